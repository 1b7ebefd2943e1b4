//! What the host's Windows Server release changes (`host/versioned.rs`):
//! 2008 R2 SP1's minimum = startup and fixed maximum, 2016's static resize;
//! each refusal a `Version` error naming the release, nothing changed.

use super::*;

fn host(version: Version) -> Host {
    Host::new(16384, Some(1024), instant())
        .unwrap()
        .with_version(version)
        .unwrap()
}

fn static_spec(startup: i64) -> VmSpec {
    VmSpec {
        dynamic: false,
        ..spec(startup, startup, 8192, 5000)
    }
}

#[test]
fn w2008r2sp1_has_no_separate_minimum() {
    let mut h = host(Version::W2008R2Sp1);
    let before = snapshot(&h);
    let e = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Version, Some("minimum_mb")));
    assert!(
        e.message.contains("2008 R2 SP1") && e.message.contains("\"2008r2sp1\""),
        "{}",
        e.message
    );
    let e = h
        .add_vms(&["x", "y"], &[spec(1024, 1024, 4096, 1), spec(1024, 512, 4096, 1)])
        .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::Version, Some("minimum_mb[1]"))
    );
    assert_eq!(snapshot(&h), before);
    // minimum_mb=None is startup; a new startup while off brings the minimum with it.
    let a = h
        .add_vm(
            "a",
            &VmSpec {
                minimum_mb: None,
                ..spec(1024, 0, 4096, 5000)
            },
        )
        .unwrap();
    h.configure(
        a,
        &VmChange {
            startup_mb: Some(2048),
            ..VmChange::default()
        },
    )
    .unwrap();
    assert_eq!(
        (
            h.vm(a).unwrap().config().startup_mb,
            h.vm(a).unwrap().config().minimum_mb
        ),
        (2048, 2048)
    );
    let e = h
        .configure(
            a,
            &VmChange {
                minimum_mb: Some(1024),
                ..VmChange::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Version);
    // No runtime change of the maximum.
    h.start(a).unwrap();
    let before = snapshot(&h);
    let e = h
        .configure(
            a,
            &VmChange {
                maximum_mb: Some(8192),
                ..VmChange::default()
            },
        )
        .unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Version, Some("maximum_mb")));
    assert_eq!(snapshot(&h), before);
    // 2012 has both.
    let mut h = host(Version::W2012);
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.configure(
        a,
        &VmChange {
            maximum_mb: Some(8192),
            ..VmChange::default()
        },
    )
    .unwrap();
}

#[test]
fn static_vms_resize_while_running_from_2016_only() {
    for v in Version::ALL {
        let mut h = host(v);
        let s = h.add_vm("s", &static_spec(2048)).unwrap();
        h.start(s).unwrap();
        let grow = VmChange {
            startup_mb: Some(4096),
            ..VmChange::default()
        };
        let before = snapshot(&h);
        let got = h.configure(s, &grow);
        if v < Version::W2016 {
            let e = got.unwrap_err();
            assert_eq!(
                (e.kind, e.field.as_deref()),
                (ErrorKind::Version, Some("startup_mb")),
                "{v:?}"
            );
            assert!(e.message.contains(v.as_str()));
            assert_eq!(snapshot(&h), before);
        } else {
            got.unwrap();
            let vm = h.vm(s).unwrap();
            assert_eq!(
                (vm.assigned_mb(), vm.visible_mb(), vm.config().startup_mb),
                (4096, 4096, 4096)
            );
            assert_eq!(h.available_mb(), 16384 - 1024 - 4096);
        }
        invariant(&h);
    }
}

#[test]
fn static_resize_is_limited_by_host_free_memory_and_guest_free_memory() {
    let mut h = host(Version::W2016);
    let s = h.add_vm("s", &static_spec(2048)).unwrap();
    let big = h.add_vm("big", &static_spec(8192)).unwrap();
    h.start(s).unwrap();
    h.start(big).unwrap();
    // free = 16384 − 1024 − 2048 − 8192 = 5120: growing s by 5120 fits, by 5122 not.
    assert_eq!(h.available_mb(), 5120);
    let before = snapshot(&h);
    let e = h
        .configure(
            s,
            &VmChange {
                startup_mb: Some(2048 + 5122),
                ..VmChange::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InsufficientMemory, Some("startup_mb"))
    );
    assert_eq!(snapshot(&h), before);
    h.configure(
        s,
        &VmChange {
            startup_mb: Some(2048 + 5120),
            ..VmChange::default()
        },
    )
    .unwrap();
    assert_eq!(h.available_mb(), 0);
    invariant(&h);
    // Down only to the guest's committed memory.
    h.set_demand(s, 3000).unwrap();
    let before = snapshot(&h);
    let e = h
        .configure(
            s,
            &VmChange {
                startup_mb: Some(2998),
                ..VmChange::default()
            },
        )
        .unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::State, Some("startup_mb")));
    assert_eq!(snapshot(&h), before);
    h.configure(
        s,
        &VmChange {
            startup_mb: Some(3000),
            ..VmChange::default()
        },
    )
    .unwrap();
    assert_eq!(h.available_mb(), 16384 - 1024 - 3000 - 8192);
    // A dynamic VM's startup still changes only while off, on every release.
    let d = h.add_vm("d", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(d).unwrap();
    let e = h
        .configure(
            d,
            &VmChange {
                startup_mb: Some(2048),
                ..VmChange::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::State);
    invariant(&h);
}

#[test]
fn version_is_set_before_vms_only() {
    let mut h = Host::new(16384, None, instant()).unwrap();
    assert_eq!(h.version(), Version::W2022);
    h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    let e = h.with_version(Version::W2012).unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::State, Some("version")));
}
