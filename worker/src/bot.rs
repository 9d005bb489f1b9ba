//! The built-in bot: offline, rule-based, and worth talking to. Pure: no I/O (the
//! caller looks up the user's results when [`asks_for_results`] says they are wanted).

use common::game::results::Standing;

const RESULT_WORDS: &[&str] = &[
    "score",
    "scores",
    "result",
    "results",
    "stats",
    "wins",
    "won",
    "record",
    "leaderboard",
    "rank",
    "losses",
    "lost",
];

fn words(text: &str) -> Vec<String> {
    text.trim()
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// Whether `text` asks about the user's results (so the caller should look them up).
pub fn asks_for_results(text: &str) -> bool {
    words(text)
        .iter()
        .any(|w| RESULT_WORDS.contains(&w.as_str()))
}

/// What the bot says to `name` about `text`; `results` are the user's own, when looked up.
pub fn reply(name: &str, text: &str, results: Option<&Standing>) -> String {
    let lower = text.trim().to_lowercase();
    let words = words(text);
    let has = |w: &str| words.iter().any(|x| x == w);
    let any = |ws: &[&str]| ws.iter().any(|w| has(w));

    if any(RESULT_WORDS) {
        return match results {
            Some(r) if r.wins + r.losses + r.draws > 0 => format!(
                "Your results so far, {name}: {} {}, {} {}, {} {}. The lobby's leaderboard shows the top ten by wins.",
                r.wins,
                if r.wins == 1 { "win" } else { "wins" },
                r.losses,
                if r.losses == 1 { "loss" } else { "losses" },
                r.draws,
                if r.draws == 1 { "draw" } else { "draws" },
            ),
            _ => format!(
                "No finished games for you yet, {name}. Finish one and it counts on the leaderboard \
                 (top ten by wins, in the lobby)."
            ),
        };
    }
    if any(&["help", "commands", "menu"]) || lower == "?" {
        return format!(
            "Here is what I can do, {name}: say \"rules\" to learn tic-tac-toe, \"play\" to find out \
             how to start a game, \"about\" to hear what this place is, or just chat with me."
        );
    }
    if any(&["rules", "rule", "explain", "how"])
        && any(&["game", "play", "tic", "tac", "toe", "rules", "rule", "win"])
    {
        return "Tic-tac-toe: two players take turns putting X and O on a 3x3 board. X moves first. \
                Three of your marks in a row, a column or a diagonal wins; a full board with no line is a draw."
            .to_string();
    }
    if any(&["play", "game", "start", "match", "opponent", "challenge"]) {
        return format!(
            "Ready when you are, {name}! In the lobby, press \"Quick match\" to be paired with the next \
             waiting player, \"New game\" to get a link to share with a friend, or \"Play the bot\" to play \
             against me. I never lose, but a careful player can hold me to a draw."
        );
    }
    if any(&["hello", "hi", "hey", "hiya", "howdy", "greetings"])
        || lower.starts_with("good morning")
    {
        return format!("Hello {name}! Nice to see you. Say \"help\" to see what I can do, or \"play\" to start a game.");
    }
    if any(&["thanks", "thank", "thx", "cheers"]) {
        return format!("You're welcome, {name}!");
    }
    if any(&["bye", "goodbye", "later", "cya"]) {
        return format!("Goodbye {name}, come back for a rematch soon!");
    }
    if any(&["about", "who", "what"]) && any(&["you", "this", "place", "are", "about"]) {
        return "I'm the house bot of this game server: I chat, explain tic-tac-toe and play it perfectly. \
                Other people play here too, on any of the server's nodes."
            .to_string();
    }
    if lower.ends_with('?') {
        return format!(
            "Good question, {name}. I'm best at tic-tac-toe: ask me for the \"rules\", or say \"play\" to \
             start a game."
        );
    }
    format!(
        "I hear you, {name}: \"{}\". Say \"help\" to see what I can do.",
        shorten(text.trim(), 80)
    )
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::{asks_for_results, reply, Standing};

    fn reply_plain(name: &str, text: &str) -> String {
        reply(name, text, None)
    }

    #[test]
    fn greets_by_name() {
        assert!(reply_plain("alice", "hello there").contains("Hello alice"));
        assert!(reply_plain("bob", "Hi!").contains("Hello bob"));
    }

    #[test]
    fn answers_help() {
        let r = reply_plain("alice", "help");
        assert!(r.contains("rules") && r.contains("play"), "{r}");
    }

    #[test]
    fn explains_the_game_and_how_to_start() {
        let rules = reply_plain("alice", "what are the rules of the game?");
        assert!(rules.contains("3x3") && rules.contains("draw"), "{rules}");
        let start = reply_plain("alice", "I want to play");
        assert!(
            start.contains("Quick match") && start.contains("Play the bot"),
            "{start}"
        );
    }

    #[test]
    fn answers_anything_else_sensibly() {
        let r = reply_plain("carol", "the weather is nice");
        assert!(
            r.contains("carol") && r.contains("the weather is nice"),
            "{r}"
        );
        let long = "x".repeat(500);
        assert!(reply_plain("carol", &long).chars().count() < 200);
    }

    #[test]
    fn reports_the_users_own_results() {
        assert!(asks_for_results("what's my score?"));
        assert!(!asks_for_results("hello"));
        let record = Standing {
            name: "alice".into(),
            wins: 3,
            losses: 1,
            draws: 0,
        };
        let r = reply("alice", "how many games have I won?", Some(&record));
        assert!(r.contains("3 wins, 1 loss, 0 draws"), "{r}");
        let none = Standing {
            name: "bob".into(),
            wins: 0,
            losses: 0,
            draws: 0,
        };
        assert!(reply("bob", "my results", Some(&none)).contains("No finished games"));
    }
}
