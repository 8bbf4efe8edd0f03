//! Scenario parsing and conversion: accepted files convert to the
//! simulator's types, refused ones name the line, the field and the range.

use super::*;

#[test]
fn errors_name_line_and_field() {
    let text = "system = \"kv\"\n\n[load]\nkind = \"open\"\nrate_per_sec = \"fast\"\n";
    let e = Scenario::parse("s.toml", text).unwrap_err().to_string();
    assert!(e.contains("line 5") && e.contains("rate_per_sec"), "{e}");
    let text = "system = \"kv\"\nhorizon = \"10 parsecs\"\n";
    let e = Scenario::parse("s.toml", text).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("horizon"), "{e}");
    let text = "system = \"kv\"\n\n[policies]\n\"kv.read_replica\" = \"fastest\"\n";
    let e = Scenario::parse("s.toml", text).unwrap_err().to_string();
    assert!(
        e.contains("line 4") && e.contains("unknown policy `fastest`"),
        "{e}"
    );
    let text = "system = \"kv\"\nhorizn = \"10s\"\n";
    let e = Scenario::parse("s.toml", text).unwrap_err().to_string();
    assert!(
        e.contains("line 2") && e.contains("unknown field `horizn`"),
        "{e}"
    );
    let text = "system = \"kv\"\n[[slowdowns]]\nnodes = [1]\nfrom = \"1s\"\nuntil = \"2s\"\n\
                [[slowdowns]]\nnodes = [30]\nfrom = \"1s\"\nuntil = \"2s\"\n";
    let s = Scenario::parse("s.toml", text).expect("parses");
    let e = s
        .network_model(NetworkModel::default(), 4)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 7")
            && e.contains("slowdowns.nodes")
            && e.contains("node 30 does not exist"),
        "{e}"
    );
}

#[test]
fn a_full_scenario_converts() {
    let text = r#"
system = "kv"
horizon = "30s"
seeds = { first = 5, count = 3 }
policies = { "kv.read_replica" = "peak-ewma" }
[params]
replicas = 3
[load]
kind = "open"
rate_per_sec = 100
[network.default]
latency = { dist = "log-normal", median_ms = 1.0, sigma = 0.5 }
[[network.groups]]
name = "eu"
nodes = "0..2"
[[network.group_links]]
between = ["eu", "eu"]
latency = { dist = "constant", ms = 0.5 }
loss = 0.01
[[network.service]]
nodes = [0, 1, 2]
time = { dist = "uniform", min_ms = 1, max_ms = 3 }
[[slowdowns]]
nodes = 2
from = "10s"
until = "20s"
extra_latency = "2s"
[[partitions]]
from = "1s"
until = "2s"
sides = [[0], [1, 2]]
[[faults]]
kind = "crash"
nodes = [1]
at = "5s"
restart_after = "500ms"
"#;
    let s = Scenario::parse("full.toml", text).expect("parses");
    assert_eq!(s.seed_list(), vec![5, 6, 7]);
    assert_eq!(s.horizon(), Duration::from_secs(30));
    assert_eq!(s.param_pairs(), vec!["replicas=3".to_string()]);
    let net = s.network_model(NetworkModel::default(), 5).expect("valid");
    assert_eq!(net.groups.len(), 2);
    assert_eq!(net.slowdowns.len(), 1);
    assert_eq!(net.partitions[0].sides.len(), 2);
    assert_eq!(s.fault_list(5).expect("valid").len(), 1);
    assert_eq!(s.policy_map()["kv.read_replica"].name(), "peak-ewma");
    assert!(matches!(s.load(), Ok(Some(Load::Open { rate_per_sec })) if rate_per_sec == 100.0));
}

fn refused(tail: &str) -> String {
    let text = format!(
        "system = \"kv\"\n[[network.groups]]\nname = \"eu\"\nnodes = [0, 1]\n\
         [[network.groups]]\nname = \"far\"\nnodes = [2]\n{tail}"
    );
    let s = Scenario::parse("s.toml", &text).expect("parses");
    match (s.network_model(NetworkModel::default(), 4), s.load()) {
        (Err(e), _) | (_, Err(e)) => e.to_string(),
        _ => panic!("accepted: {tail}"),
    }
}

#[test]
fn bad_shapes_partitions_and_phases_are_refused_by_name() {
    let slow =
        |f: &str| format!("[[slowdowns]]\nnodes = [0]\nfrom = \"0s\"\nuntil = \"9s\"\n{f}\n");
    for (tail, expected) in [
        (
            slow("period = \"2s\"\nduty = 1.5"),
            "line 13: `slowdowns.duty`: 1.5 is outside (0, 1)",
        ),
        (
            slow("period = \"0s\"\nduty = 0.5"),
            "`slowdowns.period`: 0s is not a period: give a duration > 0",
        ),
        (
            slow("period = \"2s\""),
            "`slowdowns.period`: a periodic slowdown also needs `duty`",
        ),
        (
            slow("period = \"2s\"\nduty = 0.5\nramp = true"),
            "`slowdowns.ramp`: a slowdown is periodic (`period`, `duty`) or a ramp",
        ),
        (
            "[[slowdowns]]\nlink = [0, 1]\nafter_restart = \"5s\"\n".into(),
            "`slowdowns.after_restart`: follows a node's restarts",
        ),
        (
            "[[slowdowns]]\nnodes = [0]\nextra_latency = \"1s\"\n".into(),
            "give `from` and `until` (or `after_restart`)",
        ),
        (
            "[[partitions]]\nfrom = \"1s\"\nbetween = [\"eu\", \"moon\"]\n".into(),
            "`partitions.between`: no group named `moon` (the groups are: eu, far)",
        ),
        (
            "[[partitions]]\nfrom = \"1s\"\nbetween = [\"eu\", \"far\"]\nloss = 1.5\n".into(),
            "`partitions.loss`: 1.5 is not a probability in (0, 1]",
        ),
        (
            "[[partitions]]\nfrom = \"1s\"\n".into(),
            "give exactly one of `sides` (lists of nodes) or `between` (two groups)",
        ),
        (
            "[load]\nkind = \"open\"\nrate_per_sec = 10\n[[load.phases]]\nfrom = \"5s\"\n\
             rate_per_sec = 10\n[[load.phases]]\nfrom = \"2s\"\nrate_per_sec = 10\n"
                .into(),
            "`load.phases`: phase 2 starts at 2s, not after phase 1 (5s)",
        ),
        (
            "[load]\nkind = \"open\"\n[[load.phases]]\nfrom = \"5s\"\nrate_per_sec = -3\n".into(),
            "`load.phases.rate_per_sec`: -3 is not a rate",
        ),
        (
            "[load]\nkind = \"open\"\n[[load.phases]]\nfrom = \"5s\"\nrate_per_sec = 3\n\
             ramp_to_per_sec = 9\n"
                .into(),
            "phase 1 ramps but is the last",
        ),
        (
            "[load]\nkind = \"open\"\n[[load.groups]]\ngroup = \"mars\"\nrate_per_sec = 3\n".into(),
            "`load.groups.group`: no group named `mars`",
        ),
    ] {
        let e = refused(&tail);
        assert!(e.contains(expected), "{tail}\n{e}");
    }
    let text = "system = \"kv\"\n[network.default]\nlatency = { dist = \"pareto\", scale_ms = 1, shape = 0 }\n";
    let s = Scenario::parse("p.toml", text).expect("parses");
    let e = s
        .network_model(NetworkModel::default(), 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pareto needs scale_ms > 0 and shape > 0"), "{e}");
}

#[test]
fn shapes_partitions_kinds_and_phases_convert() {
    let text = r#"
system = "kv"
[[network.groups]]
name = "clients-eu"
nodes = [3, 4]
[[network.groups]]
name = "far"
nodes = [0, 1]
[[network.service]]
nodes = [0]
time = { dist = "constant", ms = 9 }
kinds = ["Read"]
[[network.service]]
nodes = [1]
time = { dist = "empirical", file = "reads.txt" }
[[slowdowns]]
nodes = [2]
from = "2s"
until = "30s"
period = "4s"
duty = 0.5
extra_latency = "100ms"
kinds = ["Read"]
[[slowdowns]]
nodes = [1]
after_restart = "5s"
ramp = true
service_factor = 8
[[partitions]]
from = "10s"
until = "20s"
between = ["clients-eu", "far"]
loss = 0.5
[load]
kind = "open"
rate_per_sec = 100
[[load.phases]]
from = "10s"
rate_per_sec = 900
[[load.groups]]
group = "clients-eu"
phases = [{ from = "1s", rate_per_sec = 5, ramp_to_per_sec = 50 }, { from = "9s", rate_per_sec = 0 }]
"#;
    let mut s = Scenario::parse("shapes.toml", text).expect("parses");
    assert_eq!(s.empirical_files(), vec!["reads.txt".to_string()]);
    let e = s.load_empirical("reads.txt", "1ms\nslow\n").unwrap_err();
    assert!(e.to_string().contains("reads.txt: line 2: `slow`"), "{e}");
    s.load_empirical("reads.txt", "3ms\n1ms\n").expect("loads");
    let net = s.network_model(NetworkModel::default(), 5).expect("valid");
    assert_eq!(
        net.kind_service,
        vec![(
            NodeId(0),
            vec!["Read".to_string()],
            LatencyDist::Constant { ms: 9.0 }
        )]
    );
    assert_eq!(
        net.service[&NodeId(1)],
        LatencyDist::Empirical {
            samples_ms: vec![1.0, 3.0],
            file: Some("reads.txt".into())
        }
    );
    assert_eq!(
        net.slowdowns[0].shape,
        Shape::Periodic {
            period: Duration::from_secs(4),
            duty: 0.5
        }
    );
    assert_eq!(net.slowdowns[0].kinds, vec!["Read".to_string()]);
    assert_eq!(net.slowdowns[1].shape, Shape::Ramp);
    assert_eq!(net.slowdowns[1].after_restart, Some(Duration::from_secs(5)));
    assert_eq!(net.slowdowns[1].until, Duration::MAX);
    let p = &net.partitions[0];
    assert!(p.listed_only && p.loss == 0.5);
    assert_eq!(
        p.sides,
        vec![vec![NodeId(3), NodeId(4)], vec![NodeId(0), NodeId(1)]]
    );
    let Ok(Some(Load::Phased { streams })) = s.load() else {
        panic!("a phased load: {:?}", s.load());
    };
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].clients, None);
    assert_eq!(streams[0].phases.len(), 2);
    assert_eq!(streams[0].rate_at(12.0), 900.0);
    assert_eq!(streams[1].clients, Some(vec![NodeId(3), NodeId(4)]));
    assert_eq!(streams[1].rate_at(0.5), 0.0);
    assert_eq!(streams[1].rate_at(5.0), 27.5);
}
