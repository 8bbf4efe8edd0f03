//! Caches and zones in the simulator, on a tiny deterministic protocol whose
//! counts and times can be worked out by hand.

use std::time::Duration;

use prophet::model::{Aggregate, Ctx, Node, NodeId, Objective, System};
use prophet::sim::cache::{CACHE_HIT, CacheModel};
use prophet::sim::scenario::Scenario;
use prophet::sim::zone::{CROSS_ZONE_BYTES, Zone};
use prophet::sim::{LatencyDist, NetworkModel, Simulator};

/// Node 1 asks node 0 for the keys of `KEYS` one after the other (the next
/// when the answer arrives); each round trip is a span `get`.
#[derive(Clone)]
struct Getter;

const KEYS: [u64; 6] = [1, 2, 1, 3, 1, 2];

/// `(key, 0)` asks; `(key, 1000)` answers (postcard: 2 and 3 bytes).
type Msg = (u64, u32);

impl Node for Getter {
    type State = usize;
    type Msg = Msg;
    type Timer = ();
    type Durable = ();

    fn init(&self, _: NodeId, _: Option<()>) -> usize {
        0
    }

    fn on_start(&self, next: &mut usize, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(1) {
            ask(next, ctx);
        }
    }

    fn on_message(&self, next: &mut usize, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            (key, 0) => ctx.send(from, (key, 1000)),
            _ => {
                ctx.end_span("get", *next as u64);
                ask(next, ctx);
            }
        }
    }

    fn durable(&self, _: &usize) {}

    fn cache_key(&self, msg: &Msg) -> Option<u64> {
        (msg.1 == 0).then_some(msg.0)
    }
}

fn ask(next: &mut usize, ctx: &mut Ctx<'_, Getter>) {
    if let Some(&key) = KEYS.get(*next) {
        *next += 1;
        ctx.begin_span("get", *next as u64);
        ctx.send(NodeId(0), (key, 0));
    }
}

fn system() -> System<Getter> {
    System::new("getter", vec![Getter, Getter])
}

/// 1 ms links, 10 ms service at node 0, a 2-key cache with 1 ms hits.
fn cached() -> NetworkModel {
    let mut net = NetworkModel::uniform(LatencyDist::Constant { ms: 1.0 });
    net.service
        .insert(NodeId(0), LatencyDist::Constant { ms: 10.0 });
    net.caches.push(CacheModel {
        nodes: vec![NodeId(0)],
        capacity: 2,
        hit: LatencyDist::Constant { ms: 1.0 },
    });
    net
}

#[test]
fn a_cache_serves_recent_keys_at_its_hit_time() {
    let system = system();
    let report = Simulator::new(&system)
        .network(cached())
        .run(1)
        .expect("runs");
    // Keys 1 2 1 3 1 2 through a 2-key LRU: miss miss hit miss (3 evicts 2)
    // hit miss.
    assert_eq!((report.cache_lookups, report.cache_hits), (6, 2));
    let hit = &report.summaries[CACHE_HIT];
    assert_eq!(hit.count, 6);
    assert!((hit.mean - 2.0 / 6.0).abs() < 1e-12);
    // A round trip is 2 ms of links plus 10 ms (miss) or 1 ms (hit), and
    // the first waits 9 ms more for node 0's boot handler (10 ms from 0):
    // (4 × 12 + 2 × 3 + 9) / 6 = 10.5 ms.
    let get = &report.summaries["get"];
    assert_eq!(get.count, 6);
    assert!((get.mean - 0.0105).abs() < 1e-6, "{}", get.mean);
    assert_eq!(report.sim_time, Duration::from_millis(63));

    // Without the cache every round trip is 12 ms (the first 21 ms), and
    // nothing is looked up.
    let mut plain = cached();
    plain.caches.clear();
    let report = Simulator::new(&system).network(plain).run(1).expect("runs");
    assert_eq!(report.cache_lookups, 0);
    assert!(!report.summaries.contains_key(CACHE_HIT));
    assert!((report.summaries["get"].mean - 0.0135).abs() < 1e-6);
}

#[test]
fn zones_count_bytes_per_pair_exactly() {
    let system = system();
    let mut net = cached();
    net.zones = vec![
        Zone {
            name: "east".into(),
            nodes: vec![NodeId(0)],
        },
        Zone {
            name: "west".into(),
            nodes: vec![NodeId(1)],
        },
    ];
    let run = |net: NetworkModel| {
        Simulator::new(&system)
            .network(net)
            .objective(Objective::minimize(
                "cross_zone_bytes_mean",
                CROSS_ZONE_BYTES,
                Aggregate::Mean,
            ))
            .run(3)
            .expect("runs")
    };
    let report = run(net.clone());
    // 6 asks of 2 bytes west → east, 6 answers of 3 bytes east → west.
    assert_eq!(report.zone_bytes["west->east"], 12);
    assert_eq!(report.zone_bytes["east->west"], 18);
    assert_eq!(report.zone_bytes["east->east"], 0);
    assert_eq!(report.cross_zone_bytes, 30);
    assert_eq!(report.summaries[CROSS_ZONE_BYTES].sum, 30.0);
    // The scenario-level objective: 30 bytes over 12 messages.
    assert_eq!(report.objective("cross_zone_bytes_mean"), Some(2.5));

    // One zone: the same messages, none across.
    net.zones = vec![Zone {
        name: "all".into(),
        nodes: vec![NodeId(0), NodeId(1)],
    }];
    let report = run(net);
    assert_eq!(report.zone_bytes["all->all"], 30);
    assert_eq!(report.cross_zone_bytes, 0);
    assert_eq!(report.objective("cross_zone_bytes_mean"), Some(0.0));
}

#[test]
fn scenario_sections_convert_and_bad_values_name_field_and_range() {
    let text = r#"
system = "getter"
[[caches]]
nodes = "0..1"
capacity = 2
hit = { dist = "constant", ms = 1.0 }
[[zones]]
name = "east"
nodes = [0]
[[zones]]
name = "west"
nodes = [1]
[[objectives]]
name = "xz"
metric = "cross_zone_bytes"
aggregate = "rate"
direction = "minimize"
"#;
    let s = Scenario::parse("s.toml", text).expect("parses");
    let net = s.network_model(NetworkModel::default(), 2).expect("valid");
    assert_eq!(net.caches, cached().caches);
    assert_eq!(net.zones.len(), 2);
    let extra = s.extra_objectives(&[]).expect("valid");
    assert_eq!(extra[0].metric, "cross_zone_bytes");
    assert_eq!(extra[0].aggregate, Aggregate::Rate);
    let declared = [Objective::minimize("xz", "other", Aggregate::Mean)];
    let e = s.extra_objectives(&declared).unwrap_err().to_string();
    assert!(
        e.contains("objectives.name") && e.contains("`xz` exists"),
        "{e}"
    );

    let bad = |text: &str| {
        Scenario::parse("s.toml", &format!("system = \"getter\"\n{text}"))
            .and_then(|s| s.network_model(NetworkModel::default(), 2))
            .unwrap_err()
            .to_string()
    };
    let e = bad("[[caches]]\nnodes = [0]\ncapacity = 0\nhit = { dist = \"constant\", ms = 1 }\n");
    assert!(
        e.contains("line 4") && e.contains("caches.capacity") && e.contains("1 to 10000000"),
        "{e}"
    );
    let e = bad("[[caches]]\nnodes = [5]\ncapacity = 3\nhit = { dist = \"constant\", ms = 1 }\n");
    assert!(
        e.contains("line 3") && e.contains("caches.nodes") && e.contains("node 5 does not exist"),
        "{e}"
    );
    let e = bad("[[caches]]\nnodes = [0]\ncapacity = 3\nhit = { dist = \"constant\", ms = -1 }\n");
    assert!(e.contains("caches.hit") && e.contains("≥ 0"), "{e}");
    // The second entry's capacity is the one named.
    let hit = "hit = { dist = \"constant\", ms = 1 }";
    let e = bad(&format!(
        "[[caches]]\nnodes = [0]\ncapacity = 3\n{hit}\n[[caches]]\nnodes = [1]\ncapacity = 20000000\n{hit}\n"
    ));
    assert!(e.contains("line 8") && e.contains("20000000 keys"), "{e}");
    let e = bad(&format!(
        "[[caches]]\nnodes = [0, 1]\ncapacity = 3\n{hit}\n[[caches]]\nnodes = [1]\ncapacity = 2\n{hit}\n"
    ));
    assert!(e.contains("node n1 has two caches"), "{e}");
    let e = bad("[[zones]]\nname = \"a\"\nnodes = [0, 1]\n[[zones]]\nname = \"b\"\nnodes = [1]\n");
    assert!(
        e.contains("`zones`") && e.contains("zone `a` and in zone `b`"),
        "{e}"
    );
    let e = bad("[[zones]]\nname = \"a\"\nnodes = \"0..3\"\n");
    assert!(
        e.contains("zones.nodes") && e.contains("node 2 does not exist"),
        "{e}"
    );
    let e = Scenario::parse(
        "s.toml",
        "system = \"getter\"\n[[objectives]]\nname = \"x\"\nmetric = \"m\"\naggregate = \"p98\"\ndirection = \"minimize\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 5") && e.contains("p98"), "{e}");
}

#[test]
fn a_crash_empties_the_cache() {
    use prophet::sim::Fault;
    // Node 0 crashes at 33.5 ms, after the first two gets (keys 1, 2), and
    // restarts at once: the third get (key 1) misses where it would hit.
    let system = system();
    let report = Simulator::new(&system)
        .network(cached())
        .fault(Fault::Crash {
            node: NodeId(0),
            at: Duration::from_micros(33_500),
            restart_after: Some(Duration::ZERO),
        })
        .run(1)
        .expect("runs");
    // Gets end at 21, 33 ms (node 0 boots until 10 ms); the third
    // arrives at 34 ms and misses.
    // Then 3 miss, 1 hit, 2 miss: one hit in six.
    assert_eq!((report.cache_lookups, report.cache_hits), (6, 1));
}

#[test]
fn a_scenario_constraint_bounds_cross_zone_bytes() {
    let text = r#"
system = "getter"
[[zones]]
name = "east"
nodes = [0]
[[zones]]
name = "west"
nodes = [1]
[[constraints]]
name = "budget"
metric = "cross_zone_bytes"
aggregate = "count"
at_most = 11
[[constraints]]
name = "some_traffic"
metric = "cross_zone_bytes"
aggregate = "max"
at_least = 3
"#;
    let s = Scenario::parse("s.toml", text).expect("parses");
    let system = system();
    let mut sim = Simulator::new(&system).network(s.network_model(cached(), 2).expect("valid"));
    for c in s.extra_constraints(&[]).expect("valid") {
        sim = sim.constraint(c);
    }
    let report = sim.run(1).expect("runs");
    // 12 messages counted (over the budget of 11); the largest is 3 bytes.
    let held: Vec<(&str, bool)> = (report.constraints.iter())
        .map(|c| (c.name.as_str(), c.satisfied))
        .collect();
    assert_eq!(held, [("budget", false), ("some_traffic", true)]);

    let e = Scenario::parse(
        "s.toml",
        "system = \"getter\"\n[[constraints]]\nname = \"b\"\nmetric = \"m\"\naggregate = \"mean\"\n",
    )
    .expect("parses")
    .extra_constraints(&[])
    .unwrap_err()
    .to_string();
    assert!(e.contains("exactly one of `at_most` and `at_least`"), "{e}");
}
