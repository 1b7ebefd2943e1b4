"""NUMA nodes (docs/balancer.md, "NUMA"): `Host(numa_nodes=, numa_spanning=)`,
`VM.numa_node`, `Host.numa_available_mb`, status "spanning", and spanning off
(a start that fits no single node; one pool per node).

Hand-computed cases run on dynmem and on the reference; the differential
test drives both through random operations on NUMA hosts; properties hold
the per-node invariant after every operation and tick, and a host of one
node to a host without NUMA, snapshot byte for byte.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers as H
import reference as R
from test_differential import run_scenario

needs_dynmem = pytest.mark.skipif(not H.HAVE_DYNMEM, reason="dynmem not built")
IMPLS = [pytest.param("dynmem", marks=needs_dynmem), "reference"]

if H.HAVE_DYNMEM:
    import dynmem


def make(impl: str, physical_mb: int, reserve_mb, numa_nodes, numa_spanning=True):
    return H.make_host(impl, physical_mb, reserve_mb, None, numa_nodes=numa_nodes, numa_spanning=numa_spanning)


def start_fails(vm) -> bool:
    return not H.try_start(vm)


# --------------------------------------------------------------------------
# hand-computed cases
# --------------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("spanning", [False, True])
def test_a_start_fails_only_with_spanning_off(impl, spanning):
    # 16 GB in two nodes of 8 GB, no reserve. Two static VMs of 6 GB take a
    # node each (the first: the lowest of two equally free nodes), leaving
    # 2 GB on each: 4 GB free on the host, but a 3 GB VM fits no node.
    host = make(impl, 16384, 0, 2, spanning)
    a, b, c = (host.add_vm(n, startup_mb=s, maximum_mb=s, dynamic=False)
               for n, s in (("a", 6144), ("b", 6144), ("c", 3072)))
    a.start()
    b.start()
    assert (a.numa_node, b.numa_node, c.numa_node) == (0, 1, -1)
    assert list(host.numa_available_mb) == [2048, 2048]
    assert host.available_mb == 4096
    if spanning:
        c.start()
        # node 0 (ties: the lowest) holds 2 GB of it, 1 GB spills to node 1
        assert c.numa_node == 0
        assert (a.status, b.status, c.status) == ("", "", "spanning")
        assert list(host.numa_available_mb) == [0, 1024]
    else:
        assert start_fails(c)
        assert c.state == "off" and list(host.numa_available_mb) == [2048, 2048]
        # a VM of 2 GB still fits a node
        d = host.add_vm("d", startup_mb=2048, maximum_mb=2048, dynamic=False)
        d.start()
        assert d.numa_node == 0 and d.status == ""


@needs_dynmem
def test_the_failure_says_why():
    host = dynmem.Host(physical_mb=16384, reserve_mb=0, numa_nodes=[8192, 8192], numa_spanning=False)
    for name, size in (("a", 6144), ("b", 6144), ("c", 3072)):
        host.add_vm(name, startup_mb=size, maximum_mb=size, dynamic=False)
    host.start_vms(host.vms[:2])
    with pytest.raises(dynmem.InsufficientMemoryError) as e:
        host.vm("c").start()
    assert (e.value.field, e.value.value) == ("startup_mb", 3072)
    for words in ("fits no single NUMA node", "although the host has 4096 MB free",
                  "numa_spanning is off", "node sizes [8192, 8192] MB", "free per node [2048, 2048] MB"):
        assert words in str(e.value)
    # a batch start records the same failure and starts the rest
    started = host.start_vms([host.vm("c")])
    assert not started.any()


@pytest.mark.parametrize("impl", IMPLS)
def test_the_preferred_node_has_the_most_free_memory(impl):
    # Nodes of 4 GB and 8 GB; the 1 GB reserve comes from node 0: free 3072 and 8192.
    host = make(impl, 12288, 1024, [4096, 8192])
    assert list(host.numa_available_mb) == [3072, 8192]
    vms = [host.add_vm(f"v{k}", startup_mb=2048, minimum_mb=1024, maximum_mb=4096) for k in range(4)]
    for vm in vms:
        vm.start()
    # free (3072, 8192) -> node 1 (6144) -> 1 (4096) -> 1 (2048) -> node 0 (3072 > 2048)
    assert [vm.numa_node for vm in vms] == [1, 1, 1, 0]
    assert list(host.numa_node) == [1, 1, 1, 0]
    assert list(host.numa_available_mb) == [1024, 2048]
    vms[3].stop()
    assert list(host.numa_node) == [1, 1, 1, -1]
    assert list(host.numa_available_mb) == [3072, 2048]


@pytest.mark.parametrize("impl", IMPLS)
def test_spanning_off_balances_each_node_alone(impl):
    # Two nodes of 4 GB, the 1 GB reserve on node 0. VM a (node 1) wants
    # 7000 MB: with spanning off it gets node 1 (4096), with spanning on
    # the host's pool.
    got = {}
    for spanning in (False, True):
        host = make(impl, 8192, 1024, 2, spanning)
        a = host.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=8192)
        b = host.add_vm("b", startup_mb=1024, minimum_mb=512, maximum_mb=8192)
        a.start()
        b.start()
        assert (a.numa_node, b.numa_node) == (1, 0)
        host.set_demand_mb([7000, 100])
        for _ in range(60):  # past boot_report_delay_s (45 s) and b's lazy removal
            host.tick(1.0)
        got[spanning] = (list(host.assigned_mb), list(host.numa_available_mb))
    assert got[False] == ([4096, 512], [2560, 0])
    assert got[True] == ([6656, 512], [0, 0])


@pytest.mark.parametrize("impl", IMPLS)
def test_one_node_is_no_numa(impl):
    host = make(impl, 8192, 512, 1, False)
    assert list(host.numa_nodes_mb) == [8192] and host.numa_spanning
    vm = host.add_vm("a", startup_mb=2048, maximum_mb=2048, dynamic=False)
    assert vm.numa_node == -1
    vm.start()
    assert (vm.numa_node, vm.status, list(host.numa_available_mb)) == (0, "", [host.available_mb])


@needs_dynmem
def test_node_sizes_are_checked():
    with pytest.raises(dynmem.ConfigError) as e:
        dynmem.Host(physical_mb=16384, numa_nodes=[8192, 8000])
    assert e.value.field == "numa_nodes"
    assert "sum to physical_mb (16384), but they sum to 16192" in str(e.value)
    for bad in (0, 65, [16384, 0], []):
        with pytest.raises(dynmem.ConfigError) as e:
            dynmem.Host(physical_mb=16384, numa_nodes=bad)
        assert e.value.field == "numa_nodes"
    for bad in (True, "2", 2.0, {2: 1}):
        with pytest.raises(dynmem.ConfigTypeError):
            dynmem.Host(physical_mb=16384, numa_nodes=bad)
    with pytest.raises(dynmem.ConfigTypeError) as e:
        dynmem.Host(physical_mb=16384, numa_nodes=[8192, 8192.0])
    assert e.value.field == "numa_nodes[1]"
    with pytest.raises(dynmem.ConfigTypeError):
        dynmem.Host(physical_mb=16384, numa_nodes=2, numa_spanning=1)
    # equal nodes: the remainder one MB each to the first nodes
    assert list(dynmem.Host(physical_mb=16385, numa_nodes=3).numa_nodes_mb) == [5462, 5462, 5461]
    assert list(dynmem.Host(physical_mb=8192, numa_nodes=np.int64(2)).numa_nodes_mb) == [4096, 4096]
    assert list(dynmem.Host(physical_mb=8192, numa_nodes=np.array([2048, 6144])).numa_nodes_mb) == [2048, 6144]


@needs_dynmem
def test_the_contract_line():
    host = dynmem.Host(physical_mb=262144, version="2019", numa_nodes=2, numa_spanning=True)
    assert list(host.numa_nodes_mb) == [131072, 131072]
    # the default reserve, 384 + 64 x 256 = 16768 MB, all on node 0
    assert list(host.numa_available_mb) == [131072 - 16768, 131072]
    vm = host.add_vm("web", startup_mb=2048, maximum_mb=16384)
    vm.start()
    assert vm.numa_node == 1
    assert host.numa_available_mb.dtype == np.int64 and host.numa_node.dtype == np.int64


@needs_dynmem
def test_snapshots_and_copies_keep_the_nodes():
    host = dynmem.Host(physical_mb=16384, reserve_mb=0, numa_nodes=[4096, 12288], numa_spanning=False)
    vms = [host.add_vm(f"v{k}", startup_mb=1024, maximum_mb=4096) for k in range(3)]
    host.start_vms(vms[:2])
    for copy in (pickle.loads(pickle.dumps(host)), dynmem.Host.from_snapshot(host.snapshot()),
                 __import__("copy").deepcopy(host)):
        assert list(copy.numa_nodes_mb) == [4096, 12288] and not copy.numa_spanning
        assert list(copy.numa_node) == [1, 1, -1]
        assert list(copy.numa_available_mb) == list(host.numa_available_mb)
        assert copy.snapshot() == host.snapshot()


# --------------------------------------------------------------------------
# differential and properties
# --------------------------------------------------------------------------

@st.composite
def numa_configs(draw, kind: str = "hyperv") -> dict:
    cfg = draw(H.host_configs(kinds=(kind,)))
    n = draw(st.integers(2, 4))
    if draw(st.booleans()):
        nodes = n
    else:
        cuts = sorted(draw(st.lists(st.integers(1, cfg["physical_mb"] - 1), min_size=n - 1,
                                    max_size=n - 1, unique=True)))
        nodes = [b - a for a, b in zip([0] + cuts, cuts + [cfg["physical_mb"]])]
    return dict(cfg, numa_nodes=nodes, numa_spanning=draw(st.booleans()))


def check_nodes(host) -> None:
    """Per node: accounted memory <= node size; with spanning off the VMs on
    a node and its reserve share fit it."""
    sizes = [int(s) for s in host.numa_nodes_mb]
    avail = [int(a) for a in host.numa_available_mb]
    assert sum(sizes) == host.physical_mb
    assert min(avail) >= 0, avail
    assert sum(avail) == host.available_mb
    total = sum(int(v.assigned_mb) for v in host.vms)
    assert total + host.reserve_mb <= host.physical_mb
    if not host.numa_spanning:
        held = [0] * len(sizes)
        for v in host.vms:
            if v.state != "off":
                held[v.numa_node] += int(v.assigned_mb)
        left = host.reserve_mb
        for k, size in enumerate(sizes):
            r = min(left, size)
            left -= r
            assert held[k] + r <= size, (k, held, sizes)
            assert avail[k] == size - r - held[k]
        assert "spanning" not in [v.status for v in host.vms]


@pytest.mark.parametrize("kind", H.kind_params())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_differential_numa(kind, data):
    """dynmem against the reference on NUMA hosts, spanning on and off, every
    policy kind: every value equal after every operation, and the per-node
    invariant on both."""
    cfg = data.draw(numa_configs(kind))
    pair = run_scenario(data, cfg, data.draw(st.integers(1, 8)), data.draw(st.integers(1, 40)),
                        start_all=data.draw(st.booleans()))
    check_nodes(pair.real)
    check_nodes(pair.ref)


@needs_dynmem
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_per_node_invariant_after_every_operation(data):
    cfg = data.draw(numa_configs())
    host = H.make_host("dynmem", **cfg)
    step = H.size_step(host.policy.balloon_unit_mb)
    for k in range(data.draw(st.integers(1, 8))):
        host.add_vm(f"v{k}", **data.draw(H.vm_settings(step)))
    for _ in range(data.draw(st.integers(1, 40))):
        op = data.draw(st.sampled_from(["start", "stop", "demand", "tick", "tick"]))
        vm = data.draw(st.sampled_from(host.vms))
        if op == "start" and vm.state == "off":
            H.try_start(vm)
        elif op == "stop" and vm.state != "off":
            vm.stop()
        elif op == "demand":
            vm.demand_mb = data.draw(st.integers(0, 8000))
        elif op == "tick":
            host.tick(data.draw(H.dts()))
        check_nodes(host)
        H.check_invariants(host)


@needs_dynmem
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_node_is_exactly_no_numa(data):
    """`numa_nodes=1` (either spanning) is the host without NUMA: the same
    snapshot, byte for byte, after the same operations."""
    cfg = data.draw(H.host_configs())
    plain = H.make_host("dynmem", **cfg)
    one = H.make_host("dynmem", **cfg, numa_nodes=[cfg["physical_mb"]], numa_spanning=data.draw(st.booleans()))
    step = H.size_step(plain.policy.balloon_unit_mb)
    for k in range(data.draw(st.integers(1, 6))):
        s = data.draw(H.vm_settings(step))
        plain.add_vm(f"v{k}", **s)
        one.add_vm(f"v{k}", **s)
    for h in (plain, one):
        h.start_vms()
    for _ in range(data.draw(st.integers(1, 20))):
        d = data.draw(st.lists(st.integers(0, 6000), min_size=len(plain), max_size=len(plain)))
        for h in (plain, one):
            h.set_demand_mb(np.array(d))
            h.tick(1.0)
        assert one.snapshot() == plain.snapshot()


@needs_dynmem
def test_results_do_not_depend_on_threads():
    """A NUMA host with spanning off of PARALLEL_MIN_VMS VMs a node ticks
    each node in parts: 1 and 2 threads give the same host."""
    n = 2 * dynmem._dynmem.PARALLEL_MIN_VMS
    hosts = []
    for threads in (1, 2):
        host = dynmem.Host(physical_mb=n * 1500, reserve_mb=0, numa_nodes=2, numa_spanning=False,
                           policy=dynmem.HyperVPolicy(boot_report_delay_s=0))
        host.threads = threads
        host.add_vms([f"v{i}" for i in range(n)], startup_mb=1024, minimum_mb=256, maximum_mb=8192,
                     weight=np.arange(n) % 10_001)
        host.start_vms()
        rng = np.random.default_rng(7)
        for _ in range(5):
            host.set_demand_mb(rng.integers(100, 4000, n))
            host.tick(1.0)
        hosts.append(host)
    assert (hosts[0].numa_node == np.arange(n) % 2).all()
    assert hosts[0].snapshot() == hosts[1].snapshot()


def test_reference_equal_nodes():
    assert R.Host(16385, 0, numa_nodes=3).numa_nodes_mb == [5462, 5462, 5461]


@needs_dynmem
def test_a_user_policy_is_asked_per_node_with_the_vms_own_ids():
    seen = []

    class Record(dynmem.Policy):
        def allocate(self, pool_mb, vms):
            seen.append((pool_mb, list(vms.ids)))
            return vms.minimum_mb

    host = dynmem.Host(physical_mb=8192, reserve_mb=1024, numa_nodes=2, numa_spanning=False,
                       policy=Record(boot_report_delay_s=0))
    vms = [host.add_vm(f"v{k}", startup_mb=1024, minimum_mb=512, maximum_mb=4096) for k in range(3)]
    host.start_vms(vms)
    host.tick(1.0)
    # nodes: v0 -> 1 (4096 free vs 3072), v1 -> 0 (3072 vs 3072: the lowest), v2 -> 1
    assert list(host.numa_node) == [1, 0, 1]
    assert seen == [(3072, [vms[1].id]), (4096, [vms[0].id, vms[2].id])]
