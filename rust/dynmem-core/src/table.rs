//! Numeric CSV tables, the trace loaders' parser: the wanted columns of
//! every row converted in full (a number, or a `dd.MM.yyyy HH:mm:ss` time),
//! every other field checked to start like one, and each row that does not
//! have the header's number of fields, or has a field that is no number,
//! reported with its line and field rather than stopping the parse.
//! Delimiters and line ends are found eight bytes at a time; no allocation
//! per field.

use crate::error::{try_vec, Result};

/// How a format writes its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Field separator (`b';'` for Bitbrains and Materna).
    pub delimiter: u8,
    /// A field may be enclosed in this character (Materna: `b'"'`).
    pub quote: Option<u8>,
    /// Numbers use a decimal comma (`3,6`), as German locales write them.
    pub decimal_comma: bool,
    /// A field `dd.MM.yyyy HH:mm:ss` is a time: Unix epoch seconds, UTC.
    pub day_first_time: bool,
}

/// Why a data row was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowProblem {
    /// The row has this many fields, not the header's number.
    Fields(usize),
    /// This field (0-based) is not a number.
    NotANumber(usize),
}

/// A parsed table: the wanted columns, one value per data row (NaN in a
/// row that has a problem), the 1-based line of each data row, and the
/// problems as `(row, problem)` in row order. Blank lines are not rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<Vec<f64>>,
    pub lines: Vec<u64>,
    pub problems: Vec<(usize, RowProblem)>,
}

/// Longest field read as a number (longer ones are not numbers).
const MAX_FIELD: usize = 64;

/// Parses `text`, whose first line is line `first_line`: every non-blank
/// line must have `fields` fields, each a number; `wanted` (field indexes,
/// each below `fields`) are kept. Only the table's own room can fail (an
/// `OutOfMemory` error); bad rows are [`Table::problems`].
pub fn parse(text: &[u8], first_line: u64, fields: usize, wanted: &[usize], d: &Dialect) -> Result<Table> {
    let rows = text.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut columns = Vec::with_capacity(wanted.len());
    for _ in wanted {
        columns.push(try_vec::<f64>(rows, "table")?);
    }
    let mut lines = try_vec::<u64>(rows, "table")?;
    let mut problems = Vec::new();
    // slot[k] = position in `wanted` of field k, or usize::MAX
    let mut slot = vec![usize::MAX; fields];
    for (w, &k) in wanted.iter().enumerate() {
        if k < fields {
            slot[k] = w;
        }
    }
    let mut row_values = vec![f64::NAN; wanted.len()];
    let mut at = 0usize;
    for i in 0.. {
        if at > text.len() {
            break;
        }
        let end = find_byte(text, at, b'\n').unwrap_or(text.len());
        let raw = &text[at..end];
        at = end + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let row = lines.len();
        lines.push(first_line + i as u64);
        row_values.iter_mut().for_each(|v| *v = f64::NAN);
        match read_row(line, fields, &slot, &mut row_values, d) {
            Ok(()) => {}
            Err(p) => {
                problems.push((row, p));
                row_values.iter_mut().for_each(|v| *v = f64::NAN);
            }
        }
        for (c, v) in columns.iter_mut().zip(&row_values) {
            c.push(*v);
        }
    }
    Ok(Table {
        columns,
        lines,
        problems,
    })
}

/// The first `x` in `hay` at or after `start`, eight bytes at a time (the
/// lowest zero byte of `v ^ xxxxxxxx` found with the carry trick, which is
/// exact for the lowest one).
fn find_byte(hay: &[u8], start: usize, x: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let rep = LO * u64::from(x);
    let mut i = start;
    while i + 8 <= hay.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&hay[i..i + 8]);
        let v = u64::from_le_bytes(word) ^ rep;
        let t = v.wrapping_sub(LO) & !v & HI;
        if t != 0 {
            return Some(i + (t.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay.get(i..)?.iter().position(|&b| b == x).map(|p| i + p)
}

/// Byte classes for the one-pass field scan: 0 no part of a plain number,
/// 1 a sign, point, comma or exponent, 2 a digit.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = 2;
        c += 1;
    }
    t[b'+' as usize] = 1;
    t[b'-' as usize] = 1;
    t[b'.' as usize] = 1;
    t[b',' as usize] = 1;
    t[b'e' as usize] = 1;
    t[b'E' as usize] = 1;
    t
};

fn read_row(
    line: &[u8],
    fields: usize,
    slot: &[usize],
    out: &mut [f64],
    d: &Dialect,
) -> std::result::Result<(), RowProblem> {
    let mut k = 0usize;
    let mut pos = 0usize;
    let mut bad: Option<usize> = None;
    let point = if d.decimal_comma { b',' } else { b'.' };
    loop {
        while pos < line.len() && (line[pos] == b' ' || line[pos] == b'\t') {
            pos += 1;
        }
        let quoted = matches!(d.quote, Some(q) if pos < line.len() && line[pos] == q);
        let (field, next, plain) = if quoted {
            let (f, n) = next_field(line, pos, d);
            (f, n, false)
        } else {
            // to the delimiter, eight bytes at a time; a field that starts like a
            // number is taken as one unless it is kept (and so converted in full)
            let start = pos;
            let end = find_byte(line, start, d.delimiter).unwrap_or(line.len());
            let next = (end < line.len()).then_some(end + 1);
            let plain = end > start && CLASS[line[start] as usize] != 0;
            (&line[start..end], next, plain)
        };
        if k < fields && bad.is_none() {
            if slot[k] != usize::MAX {
                match (if plain { fast_decimal(field, point) } else { None }).or_else(|| number(field, d)) {
                    Some(v) => out[slot[k]] = v,
                    None => bad = Some(k),
                }
            } else if !plain && !looks_numeric(field, d) {
                bad = Some(k);
            }
        }
        k += 1;
        match next {
            Some(n) => pos = n,
            None => break,
        }
    }
    if k != fields {
        return Err(RowProblem::Fields(k));
    }
    match bad {
        Some(f) => Err(RowProblem::NotANumber(f)),
        None => Ok(()),
    }
}

/// The field starting at `pos` (quotes removed) and where the next starts.
fn next_field<'a>(line: &'a [u8], pos: usize, d: &Dialect) -> (&'a [u8], Option<usize>) {
    let mut start = pos;
    while start < line.len() && (line[start] == b' ' || line[start] == b'\t') {
        start += 1;
    }
    if let Some(q) = d.quote {
        if start < line.len() && line[start] == q {
            if let Some(close) = line[start + 1..].iter().position(|&b| b == q) {
                let inner = &line[start + 1..start + 1 + close];
                let after = start + 2 + close;
                return match line[after..].iter().position(|&b| b == d.delimiter) {
                    // text between the closing quote and the delimiter makes the field no number
                    Some(off) if line[after..after + off].iter().all(|b| b.is_ascii_whitespace()) => {
                        (inner, Some(after + off + 1))
                    }
                    Some(off) => (&line[start..after + off], Some(after + off + 1)),
                    None if line[after..].iter().all(|b| b.is_ascii_whitespace()) => (inner, None),
                    None => (&line[start..], None),
                };
            }
        }
    }
    match line[start..].iter().position(|&b| b == d.delimiter) {
        Some(off) => (&line[start..start + off], Some(start + off + 1)),
        None => (&line[start..], None),
    }
}

/// A field that is not kept and does not start like a number must look
/// like one in full: digits with a sign, a decimal separator and an
/// exponent (or a time, where the dialect has them).
fn looks_numeric(field: &[u8], d: &Dialect) -> bool {
    let point = if d.decimal_comma { b',' } else { b'.' };
    let f = field.trim_ascii();
    let mut digits = false;
    for &c in f {
        match c {
            b'0'..=b'9' => digits = true,
            b'+' | b'-' | b'e' | b'E' => {}
            c if c == point => {}
            _ => return d.day_first_time && day_first_time(f).is_some(),
        }
    }
    digits
}

/// Powers of ten exact in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Clinger's fast path: a decimal of at most 15 digits and a power of ten
/// within 10^±22 is one correctly rounded multiplication or division of
/// two exact f64s, the same number `str::parse` gives; `None` otherwise
/// (the caller then takes the general parser).
fn fast_decimal(f: &[u8], point: u8) -> Option<f64> {
    let (neg, mut i) = match f.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let (mut m, mut n, mut e10, mut any) = (0u64, 0u32, 0i32, false);
    while i < f.len() && f[i].is_ascii_digit() {
        m = m * 10 + u64::from(f[i] - b'0');
        n += 1;
        any = true;
        i += 1;
        if n > 15 {
            return None;
        }
    }
    if i < f.len() && f[i] == point {
        i += 1;
        while i < f.len() && f[i].is_ascii_digit() {
            m = m * 10 + u64::from(f[i] - b'0');
            n += 1;
            e10 -= 1;
            any = true;
            i += 1;
            if n > 15 {
                return None;
            }
        }
    }
    if !any {
        return None;
    }
    if i < f.len() && (f[i] == b'e' || f[i] == b'E') {
        i += 1;
        let (eneg, start) = match f.get(i) {
            Some(b'-') => (true, i + 1),
            Some(b'+') => (false, i + 1),
            _ => (false, i),
        };
        i = start;
        let mut e = 0i32;
        while i < f.len() && f[i].is_ascii_digit() && e < 1000 {
            e = e * 10 + i32::from(f[i] - b'0');
            i += 1;
        }
        if i == start || i != f.len() {
            return None;
        }
        e10 += if eneg { -e } else { e };
    }
    if i != f.len() || !(-22..=22).contains(&e10) {
        return None;
    }
    let v = if e10 < 0 {
        m as f64 / POW10[(-e10) as usize]
    } else {
        m as f64 * POW10[e10 as usize]
    };
    Some(if neg { -v } else { v })
}

/// A field as a number: decimal (comma or point as the dialect says) or,
/// where the dialect has them, a `dd.MM.yyyy HH:mm:ss` time.
fn number(field: &[u8], d: &Dialect) -> Option<f64> {
    let mut end = field.len();
    while end > 0 && field[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let field = &field[..end];
    if field.is_empty() || field.len() > MAX_FIELD {
        return None;
    }
    if let Some(v) = fast_decimal(field, if d.decimal_comma { b',' } else { b'.' }) {
        return Some(v);
    }
    let mut buf = [0u8; MAX_FIELD];
    let text = if d.decimal_comma {
        for (b, &c) in buf.iter_mut().zip(field) {
            *b = match c {
                b',' => b'.',
                b'.' => b'!', // a point is no decimal separator here
                c => c,
            };
        }
        &buf[..field.len()]
    } else {
        field
    };
    let parsed = std::str::from_utf8(text).ok().and_then(|s| s.parse::<f64>().ok());
    match parsed {
        Some(v) => Some(v),
        None if d.day_first_time => day_first_time(field),
        None => None,
    }
}

/// `dd.MM.yyyy HH:mm:ss` as Unix epoch seconds (UTC), if it is a real date.
fn day_first_time(f: &[u8]) -> Option<f64> {
    if f.len() != 19 || f[2] != b'.' || f[5] != b'.' || f[10] != b' ' || f[13] != b':' || f[16] != b':' {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<i64> {
        f[a..b].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (day, month, year) = (num(0, 2)?, num(3, 5)?, num(6, 10)?);
    let (h, m, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > days_in[(month - 1) as usize] || h > 23 || m > 59 || s > 59 {
        return None;
    }
    // days from 1970-01-01 (Howard Hinnant's days_from_civil)
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + m * 60 + s) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BITBRAINS: Dialect = Dialect {
        delimiter: b';',
        quote: None,
        decimal_comma: false,
        day_first_time: false,
    };
    const MATERNA: Dialect = Dialect {
        delimiter: b';',
        quote: Some(b'"'),
        decimal_comma: true,
        day_first_time: true,
    };

    #[test]
    fn bitbrains_rows() {
        let text = b"1375308176;\t4;\t1.6703488E7;\t167772.0\r\n\n1375308476;\t4;\t1.6703488E7;\t223696.0\n";
        let t = parse(text, 2, 4, &[0, 3], &BITBRAINS).unwrap();
        assert_eq!(
            t.columns,
            vec![vec![1375308176.0, 1375308476.0], vec![167772.0, 223696.0]]
        );
        assert_eq!(t.lines, vec![2, 4]);
        assert!(t.problems.is_empty());
    }

    #[test]
    fn materna_rows_with_quotes_decimal_commas_and_times() {
        let text =
            b"\"01.09.2016 00:00:00\";\"4\";\"382,908\";\"3,6\"\n\"29.02.2016 23:59:59\";\"1\";\"0\";\"1.234\"\n";
        let t = parse(text, 2, 4, &[0, 2, 3], &MATERNA).unwrap();
        assert_eq!(t.columns[0][0], 1_472_688_000.0); // 2016-09-01T00:00:00Z
        assert_eq!(t.columns[1][0], 382.908);
        assert_eq!(t.columns[2][0], 3.6);
        assert_eq!(t.problems, vec![(1, RowProblem::NotANumber(3))]); // "1.234" is no number with a decimal comma
        assert!(t.columns[0][1].is_nan());
    }

    #[test]
    fn problems_are_reported_per_row() {
        let text = b"1;2;3\n1;2\n1;x;3\n1;2;3;4\n31.02.2016 00:00:00;1;1\n1;2x;3\n";
        let t = parse(
            text,
            10,
            3,
            &[0, 2],
            &Dialect {
                day_first_time: true,
                ..BITBRAINS
            },
        )
        .unwrap();
        assert_eq!(t.lines, vec![10, 11, 12, 13, 14, 15]);
        assert_eq!(
            t.problems,
            vec![
                (1, RowProblem::Fields(2)),
                (2, RowProblem::NotANumber(1)),
                (3, RowProblem::Fields(4)),
                (4, RowProblem::NotANumber(0)), // 31 February
            ]
        );
        // "2x" is not kept and starts like a number: accepted (only kept fields are converted)
        assert_eq!((t.columns[0][0], t.columns[1][0], t.columns[1][5]), (1.0, 3.0, 3.0));
    }

    /// The fast path gives exactly what `str::parse` gives, where it answers.
    #[test]
    fn fast_decimals_equal_the_general_parser() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut answered = 0;
        for _ in 0..200_000 {
            let r = next();
            let text = match r % 4 {
                0 => format!("{}", (r >> 8) % 100_000_000),
                1 => format!("{}.{}", (r >> 8) % 1_000_000, (r >> 32) % 100_000_000),
                2 => format!("{}.{}E{}", (r >> 8) % 10, (r >> 16) % 10_000_000, (r >> 40) % 30),
                _ => format!("-0.{:0>width$}", (r >> 8) % 1000, width = ((r >> 40) % 20) as usize),
            };
            if let Some(v) = fast_decimal(text.as_bytes(), b'.') {
                answered += 1;
                assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
            }
        }
        assert!(answered > 150_000, "{answered}");
        for s in [
            "",
            "-",
            ".",
            "1e",
            "e5",
            "1.2.3",
            "1e400",
            "12345678901234567",
            "0x10",
            "1,5",
        ] {
            assert_eq!(fast_decimal(s.as_bytes(), b'.'), None, "{s}");
        }
        assert_eq!(fast_decimal(b"3,6", b','), Some(3.6));
        assert!(!looks_numeric(b"abc", &BITBRAINS) && !looks_numeric(b"", &BITBRAINS));
        assert!(looks_numeric(b" 1.5E-3 ", &BITBRAINS));
    }

    #[test]
    fn find_byte_finds_the_first() {
        let hay = b"0123456789;abcdefgh;;xyz";
        for start in 0..hay.len() + 1 {
            let want = hay[start..].iter().position(|&b| b == b';').map(|p| start + p);
            assert_eq!(find_byte(hay, start, b';'), want, "{start}");
        }
        assert_eq!(find_byte(b"\x01\x00;", 0, b';'), Some(2)); // borrows do not fool it
        assert_eq!(find_byte(b"", 0, b';'), None);
    }

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(day_first_time(b"01.01.1970 00:00:00"), Some(0.0));
        assert_eq!(day_first_time(b"31.12.1969 23:59:59"), Some(-1.0));
        assert_eq!(day_first_time(b"29.02.2000 12:00:00"), Some(951_825_600.0));
        assert_eq!(day_first_time(b"29.02.1900 12:00:00"), None);
    }
}
