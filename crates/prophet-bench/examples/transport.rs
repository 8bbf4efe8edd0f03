//! Runs the transport benchmark until the lead wires it into the bench
//! binary: `cargo run --release -p prophet-bench --example transport`.

#[path = "../src/transport.rs"]
mod transport;

fn main() {
    let mut bench = transport::TransportBench::default();
    if let Some(n) = std::env::var("PROPHET_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        bench.messages = n;
    }
    match transport::run(&bench) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
}
