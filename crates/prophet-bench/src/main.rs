mod sim_cmp;

fn main() -> std::process::ExitCode {
    // `prophet-bench sim [--json]`: the simulator's figures (JSON lines).
    if std::env::args().nth(1).as_deref() == Some("sim")
        && let Err(e) = sim_cmp::run()
    {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(2);
    }
    std::process::ExitCode::SUCCESS
}
