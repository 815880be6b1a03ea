//! `cargo run -p pedro-tests --bin pedro-fakes`: the tests' fake VoIP.ms and fake OpenAI on
//! loopback, with a few calls and a recording of the last hour, for trying `pedro serve` end to
//! end on a machine with no accounts (the README's walk-through). Prints the settings to give
//! `pedro serve`, then serves until stopped. Nothing here is used by the product.

use pedro_tests::demo::Demo;

#[tokio::main]
async fn main() {
    let demo = Demo::start().await;
    println!("Fake VoIP.ms and fake OpenAI are running. Start pedro with:\n");
    let settings: Vec<String> = demo.env().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    for line in settings.chunks(3) {
        println!("{} \\", line.join(" "));
    }
    println!("  cargo run --bin pedro -- serve --insecure-no-auth\n");
    println!("(Ctrl-C stops the fakes.)");
    let _ = tokio::signal::ctrl_c().await;
}
