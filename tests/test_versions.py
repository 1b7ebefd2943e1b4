"""Host versions (docs/balancer.md, "Host versions"): what each Windows
Server release allows, and the typed error naming the release otherwise."""

import pytest

import dynmem


def test_default_is_the_newest_and_every_name_is_accepted():
    assert dynmem.Host(8192).version == "2022" == dynmem.VERSIONS[-1]
    for v in dynmem.VERSIONS:
        host = dynmem.Host(8192, version=v)
        assert host.version == v
        # The default reserve is 2008 R2 SP1's rule on every release: 384 + 64 × 8.
        assert host.reserve_mb == 896


@pytest.mark.parametrize("bad", ["2025", "2008", "", "2012R2"])
def test_unknown_version_is_a_config_error(bad):
    with pytest.raises(dynmem.ConfigError) as e:
        dynmem.Host(8192, version=bad)
    assert (e.value.field, e.value.value) == ("version", bad)


def test_version_of_wrong_type():
    with pytest.raises(dynmem.ConfigTypeError) as e:
        dynmem.Host(8192, version=2019)  # type: ignore[arg-type]
    assert e.value.field == "version"


def test_2008r2sp1_minimum_is_startup():
    host = dynmem.Host(8192, reserve_mb=512, version="2008r2sp1")
    with pytest.raises(dynmem.VersionError) as e:
        host.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=4096)
    assert (e.value.field, e.value.value) == ("minimum_mb", 512)
    assert "2008 R2 SP1" in str(e.value) and "2008r2sp1" in str(e.value)
    assert len(host.vms) == 0
    vm = host.add_vm("a", startup_mb=1024, maximum_mb=4096)
    assert vm.minimum_mb == 1024
    vm.startup_mb = 2048  # while off, the minimum follows
    assert (vm.startup_mb, vm.minimum_mb) == (2048, 2048)
    vm.start()
    with pytest.raises(dynmem.VersionError) as e:
        vm.maximum_mb = 8192
    assert e.value.field == "maximum_mb" and vm.maximum_mb == 4096
    # The same on 2012: a separate minimum, a maximum that rises while running.
    host = dynmem.Host(8192, reserve_mb=512, version="2012")
    vm = host.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=4096)
    vm.start()
    vm.maximum_mb = 8192


@pytest.mark.parametrize("version", dynmem.VERSIONS)
def test_running_static_vm_resizes_from_2016(version):
    host = dynmem.Host(8192, reserve_mb=512, version=version)
    vm = host.add_vm("s", startup_mb=2048, maximum_mb=8192, dynamic=False)
    other = host.add_vm("o", startup_mb=4096, maximum_mb=8192, dynamic=False)
    vm.start()
    other.start()
    assert host.available_mb == 1536
    if dynmem.VERSIONS.index(version) < dynmem.VERSIONS.index("2016"):
        with pytest.raises(dynmem.VersionError) as e:
            vm.startup_mb = 3072
        assert e.value.field == "startup_mb" and version in str(e.value)
        assert vm.assigned_mb == 2048
        return
    with pytest.raises(dynmem.InsufficientMemoryError) as ei:
        vm.startup_mb = 2048 + 1538  # 2 MB more than the host has free
    assert ei.value.field == "startup_mb" and vm.assigned_mb == 2048
    vm.startup_mb = 2048 + 1536
    assert (vm.assigned_mb, vm.visible_mb, host.available_mb) == (3584, 3584, 0)
    vm.demand_mb = 3000
    with pytest.raises(dynmem.StateError):
        vm.startup_mb = 2998  # below the guest's committed memory
    vm.startup_mb = 3000
    assert (vm.assigned_mb, host.available_mb) == (3000, 584)


def test_demo_scenario_runs_on_2008r2sp1():
    from dynmem.scenario import load_scenario, reference_scenario

    assert reference_scenario().host["version"] == "2008r2sp1"


def test_scenario_version_is_checked(tmp_path):
    from dynmem.scenario import load_scenario

    p = tmp_path / "s.toml"
    p.write_text('duration_s = 10\n[host]\nphysical_mb = 8192\nversion = "2003"\n')
    with pytest.raises(dynmem.ConfigError) as e:
        load_scenario(p)
    assert e.value.field == "host.version"


@pytest.mark.parametrize("version", dynmem.VERSIONS)
def test_an_explicit_reserve_wins_on_every_release(version):
    """The default reserve is the 2008 R2 SP1 formula (the documented estimate
    for 2012 and later); an explicit reserve_mb replaces it on every release."""
    assert dynmem.Host(8192, version=version).reserve_mb == 384 + 64 * 8
    for reserve in (0, 100, 8191):
        assert dynmem.Host(8192, reserve_mb=reserve, version=version).reserve_mb == reserve
