use clap::Parser;
use kubectl_upgrade::{app, cli::Cli, exit::Code};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Code::Usage.as_i32()
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Code::Api.as_i32() as u8);
        }
    };
    match runtime.block_on(app::run(cli)) {
        Ok(code) => ExitCode::from(code.as_i32() as u8),
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code.as_i32() as u8)
        }
    }
}
