//! A terminal chat: each line you type goes to the room; `/bot TEXT` asks the bot.
//!
//! cargo run -p client --example chat -- --url http://127.0.0.1:8080 --name alice --room lobby
//!
//! `--url` may list several nodes separated by commas; the client goes to the next when
//! one drops, and shows what was missed meanwhile exactly once.

use client::{Event, Options};
use tokio::io::{AsyncBufReadExt, BufReader};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), client::Error> {
    let urls = arg("--url", "http://127.0.0.1:8080");
    let room = arg("--room", "lobby");
    let options = Options::new(urls.split(',')).name(arg("--name", "guest"));
    let client = client::connect(options).await?;
    let mut events = client.events().expect("the events, taken once");
    let joined = client.join_room(&room).await?;
    for message in joined["history"].as_array().into_iter().flatten() {
        println!(
            "{}: {}",
            message["from"].as_str().unwrap_or("?"),
            message["text"].as_str().unwrap_or("")
        );
    }
    println!(
        "-- {} in {room}; /bot TEXT asks the bot; Ctrl-D quits",
        client.name()
    );
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let outcome = match line.strip_prefix("/bot ") {
                    Some(text) => client.bot_say(text).await.map(|reply| {
                        println!("bot: {}", reply["msg"].as_str().unwrap_or(""));
                    }),
                    None if line.trim().is_empty() => Ok(()),
                    None => client.say(&room, &line).await.map(drop),
                };
                if let Err(e) = outcome {
                    eprintln!("-- refused: {e}");
                }
            }
            event = events.recv() => match event {
                Some(Event::RoomMessage(m)) if m.from != client.name() => println!("{}: {}", m.from, m.text),
                Some(Event::Presence { joined: Some(name), .. }) => println!("-- {name} joined"),
                Some(Event::Presence { left: Some(name), .. }) => println!("-- {name} left"),
                Some(Event::Open { node }) => println!("-- connected to {node}"),
                Some(Event::Reconnecting { delay, .. }) => println!("-- connection lost; again in {delay:?}"),
                Some(Event::Unrecovered { room }) => println!("-- some messages of {room} could not be recovered"),
                Some(Event::Closed) | None => break,
                Some(_) => {}
            },
        }
    }
    client.close();
    Ok(())
}
