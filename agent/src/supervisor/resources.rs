//! What the agent may use: the CPUs of its affinity mask, capped by the cgroup CPU quota,
//! and the cgroup memory limit. cgroup v2 (`cpu.max`, `memory.max`) and v1
//! (`cpu.cfs_quota_us`/`cpu.cfs_period_us`, `memory.limit_in_bytes`) are both read, since
//! Kubernetes nodes still run either.

use std::path::{Path, PathBuf};

use nix::sched::{sched_getaffinity, CpuSet};
use nix::unistd::Pid;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The CPUs this process may run on, in ascending order. Shards are pinned only to these:
/// `taskset` and the container runtime's cpuset are both expressed here.
pub fn allowed_cpus() -> nix::Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect())
}

/// The number of CPUs' worth of time the cgroup quota allows (rounded up), if limited.
pub fn cgroup_cpu_limit() -> Option<usize> {
    CgroupPaths::of_self().cpu_limit()
}

/// The cgroup memory limit in bytes, if limited.
pub fn cgroup_memory_limit() -> Option<u64> {
    CgroupPaths::of_self().memory_limit()
}

impl CgroupPaths {
    fn cpu_limit(&self) -> Option<usize> {
        let cg = self;
        if let Some(text) = cg.read_v2("cpu.max") {
            return parse_cpu_max(&text);
        }
        let quota = cg.read_v1("cpu", "cpu.cfs_quota_us")?;
        let period = cg.read_v1("cpu", "cpu.cfs_period_us")?;
        parse_cfs(&quota, &period)
    }

    fn memory_limit(&self) -> Option<u64> {
        if let Some(text) = self.read_v2("memory.max") {
            return parse_memory_limit(&text);
        }
        parse_memory_limit(&self.read_v1("memory", "memory.limit_in_bytes")?)
    }
}

/// `auto`: one shard per allowed CPU, but no more than the quota can keep busy.
pub fn auto_shards(allowed: usize, quota: Option<usize>) -> usize {
    let n = match quota {
        Some(q) => allowed.min(q),
        None => allowed,
    };
    n.max(1)
}

/// `cpu.max` is `"<quota> <period>"` or `"max <period>"`.
pub fn parse_cpu_max(text: &str) -> Option<usize> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period = it.next().unwrap_or("100000");
    parse_cfs(quota, period)
}

/// v1: a quota of -1 means unlimited.
pub fn parse_cfs(quota: &str, period: &str) -> Option<usize> {
    let q: i64 = quota.trim().parse().ok()?;
    let p: i64 = period.trim().parse().ok()?;
    if q <= 0 || p <= 0 {
        return None;
    }
    usize::try_from((q + p - 1) / p).ok().map(|n| n.max(1))
}

/// `"max"` (v2) or a page-rounded `i64::MAX` (v1) both mean unlimited.
pub fn parse_memory_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return None;
    }
    let n: u64 = t.parse().ok()?;
    (n < 1 << 60).then_some(n)
}

/// Memory left for the agent itself (proxy buffers, metrics, the runtime) before the rest
/// is split among the shards: 10% of the budget, at least 32 MiB, at most 512 MiB.
pub fn shard_memory(budget: u64, shards: usize) -> u64 {
    let headroom = (budget / 10).clamp(32 << 20, 512 << 20);
    budget.saturating_sub(headroom) / shards.max(1) as u64
}

/// Where this process's cgroup files are: `/proc/self/cgroup` names the path, but inside a
/// container with a cgroup namespace (or a plain bind mount) the files may sit at the root
/// of the mount instead, so both are tried.
struct CgroupPaths {
    root: PathBuf,
    v2: Option<String>,
    v1: Vec<(String, String)>,
}

impl CgroupPaths {
    fn of_self() -> CgroupPaths {
        let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        CgroupPaths::parse(&text, Path::new(CGROUP_ROOT))
    }

    /// `text` is `/proc/self/cgroup`; `root` is where the hierarchies are mounted.
    fn parse(text: &str, root: &Path) -> CgroupPaths {
        let mut cg = CgroupPaths {
            root: root.to_path_buf(),
            v2: None,
            v1: Vec::new(),
        };
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if id == "0" && ctrls.is_empty() {
                cg.v2 = Some(path.to_string());
            } else {
                for c in ctrls.split(',') {
                    cg.v1.push((c.to_string(), path.to_string()));
                }
            }
        }
        cg
    }

    fn read_v2(&self, file: &str) -> Option<String> {
        let path = self.v2.as_deref()?;
        // Pure v2 mounts at the root; hybrid hosts mount it at `unified`.
        for mount in [self.root.clone(), self.root.join("unified")] {
            if let Some(t) = read_first(&mount, path, file) {
                return Some(t);
            }
        }
        None
    }

    fn read_v1(&self, controller: &str, file: &str) -> Option<String> {
        let path = self
            .v1
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, p)| p.as_str())?;
        let mount = self
            .v1_mount(controller)
            .unwrap_or_else(|| self.root.join(controller));
        read_first(&mount, path, file)
    }

    fn v1_mount(&self, controller: &str) -> Option<PathBuf> {
        // `cpu` is often mounted as `cpu,cpuacct`; the plain name may be only a symlink.
        let root = &self.root;
        let plain = root.join(controller);
        if plain.exists() {
            return Some(plain);
        }
        std::fs::read_dir(root).ok()?.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split(',').any(|c| c == controller).then(|| e.path())
        })
    }
}

fn read_first(mount: &Path, cgroup: &str, file: &str) -> Option<String> {
    let nested = mount.join(cgroup.trim_start_matches('/')).join(file);
    std::fs::read_to_string(&nested)
        .or_else(|_| std::fs::read_to_string(mount.join(file)))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quota_rounds_up() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("100000 100000"), Some(1));
        assert_eq!(parse_cpu_max("50000 100000"), Some(1));
        assert_eq!(parse_cfs("-1", "100000"), None);
        assert_eq!(parse_cfs("400000\n", "100000\n"), Some(4));
        assert_eq!(parse_cfs("garbage", "100000"), None);
    }

    #[test]
    fn memory_limits() {
        assert_eq!(parse_memory_limit("max\n"), None);
        assert_eq!(parse_memory_limit("9223372036854771712\n"), None);
        assert_eq!(parse_memory_limit("1073741824\n"), Some(1 << 30));
    }

    #[test]
    fn auto_is_capped_by_quota() {
        assert_eq!(auto_shards(8, None), 8);
        assert_eq!(auto_shards(8, Some(2)), 2);
        assert_eq!(auto_shards(2, Some(16)), 2);
        assert_eq!(auto_shards(0, None), 1);
    }

    #[test]
    fn memory_split_keeps_headroom() {
        // 1 GiB: 10% (~102 MiB) headroom, the rest split in 4.
        let per = shard_memory(1 << 30, 4);
        assert_eq!(per, ((1u64 << 30) - (1u64 << 30) / 10) / 4);
        // Small budgets keep at least 32 MiB for the agent.
        assert_eq!(shard_memory(64 << 20, 2), 16 << 20);
        assert_eq!(shard_memory(16 << 20, 2), 0);
    }

    fn fake_root(tag: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("shoal-cgroup-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        root
    }

    #[test]
    fn cgroup_v2_files_of_our_own_cgroup() {
        let root = fake_root(
            "v2",
            &[
                ("kubepods/pod1/cpu.max", "250000 100000\n"),
                ("kubepods/pod1/memory.max", "536870912\n"),
            ],
        );
        let cg = CgroupPaths::parse("0::/kubepods/pod1\n", &root);
        assert_eq!(cg.cpu_limit(), Some(3));
        assert_eq!(cg.memory_limit(), Some(512 << 20));
        // A cgroup namespace shows our cgroup as "/": the files are at the mount root.
        let ns = fake_root(
            "v2ns",
            &[("cpu.max", "max 100000\n"), ("memory.max", "max\n")],
        );
        let cg = CgroupPaths::parse("0::/\n", &ns);
        assert_eq!((cg.cpu_limit(), cg.memory_limit()), (None, None));
        std::fs::remove_dir_all(root).unwrap();
        std::fs::remove_dir_all(ns).unwrap();
    }

    #[test]
    fn cgroup_v1_with_joined_controllers() {
        let root = fake_root(
            "v1",
            &[
                ("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n"),
                ("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"),
                ("memory/docker/abc/memory.limit_in_bytes", "1073741824\n"),
            ],
        );
        let text = "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n";
        let cg = CgroupPaths::parse(text, &root);
        assert_eq!(cg.cpu_limit(), Some(2));
        assert_eq!(cg.memory_limit(), Some(1 << 30));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn affinity_is_not_empty() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
    }
}
