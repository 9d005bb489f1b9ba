//! The rules exist twice: in `game.lua` (what the service enforces, atomically in Redis) and
//! in `common::game::rules` (the pure rules the bot plays by). This suite plays many random
//! games through the real script on a real Redis and through the pure rules side by side,
//! moves legal and illegal by either seat, rematches and leaves, and checks that every
//! outcome agrees: the board, whose turn, the status, the winner and line, and the error.
//! (A seat's latest move asked for again is the script's own rule on top of the pure
//! rules: it is answered with the game, unchanged; the model knows it too.)

use common::{
    game::{
        model::{Game, Status},
        rules::{self, Mark, MoveError, Outcome},
        store::{Answer, Games},
    },
    protocol::ErrorCode,
    redis::{self as redis_conn, Role},
};
use e2e::Redis;

/// A small deterministic generator (xorshift), so a failing game can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the pure rules expect of the game: its board, and who holds which mark.
struct Model {
    board: rules::Board,
    x_token: &'static str,
    o_token: &'static str,
    abandoned: bool,
    /// The latest move since the board was cleared: its mark and cell.
    last: Option<(Mark, i64)>,
}

/// What a move is expected to do.
#[derive(Debug)]
enum Expect {
    Made,
    /// The seat's latest move asked for again: answered with the game, unchanged.
    Again,
    Refused(ErrorCode),
}

impl Model {
    fn mark_of(&self, token: &str) -> Mark {
        if token == self.x_token {
            Mark::X
        } else {
            Mark::O
        }
    }

    /// The expected answer to `token` playing `cell`: the new board, the game again, or
    /// the error code.
    fn play(&mut self, token: &str, cell: i64) -> Expect {
        let mark = self.mark_of(token);
        if self.last == Some((mark, cell)) {
            return Expect::Again;
        }
        if self.abandoned {
            return Expect::Refused(ErrorCode::GameOver);
        }
        let result = if (0..9).contains(&cell) {
            rules::play(&self.board, mark, cell as usize)
        } else {
            // The script checks the turn before the cell.
            match rules::outcome(&self.board) {
                Outcome::Next(next) if next != mark => Err(MoveError::NotYourTurn),
                Outcome::Next(_) => Err(MoveError::NoSuchCell),
                _ => Err(MoveError::GameOver),
            }
        };
        Expect::Refused(match result {
            Ok(board) => {
                self.board = board;
                self.last = Some((mark, cell));
                return Expect::Made;
            }
            Err(MoveError::NotYourTurn) => ErrorCode::NotYourTurn,
            Err(MoveError::GameOver) => ErrorCode::GameOver,
            Err(MoveError::CellTaken) => ErrorCode::CellTaken,
            Err(MoveError::NoSuchCell) => ErrorCode::BadRequest,
        })
    }

    fn is_over(&self) -> bool {
        self.abandoned || !matches!(rules::outcome(&self.board), Outcome::Next(_))
    }

    /// Checks a game object from the script against the model.
    fn agrees(&self, game: &Game, context: &str) {
        assert_eq!(game.board, self.board, "board, {context}");
        if self.abandoned {
            assert_eq!(game.status, Status::Abandoned, "{context}");
            return;
        }
        match rules::outcome(&self.board) {
            Outcome::Next(mark) => {
                assert_eq!(game.status, Status::Playing, "{context}");
                assert_eq!(game.next, Some(mark), "next, {context}");
                assert_eq!((game.winner, game.line), (None, None), "{context}");
            }
            Outcome::Won(mark, line) => {
                assert_eq!(game.status, Status::Won, "{context}");
                assert_eq!(game.winner, Some(mark), "winner, {context}");
                assert_eq!(game.line, Some(line), "line, {context}");
                assert_eq!(game.next, None, "{context}");
            }
            Outcome::Draw => {
                assert_eq!(game.status, Status::Draw, "{context}");
                assert_eq!(game.winner, None, "{context}");
            }
        }
    }
}

#[tokio::test]
async fn the_script_and_the_pure_rules_agree_on_every_outcome_of_many_random_games() {
    let redis = Redis::start().await;
    let client = redis_conn::connect(&redis.url(), Role::Commands)
        .await
        .expect("Redis");
    let games = Games::new(client, false);
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let (mut moves, mut refusals, mut rematches, mut leaves, mut again) = (0, 0, 0, 0, 0);
    let mut lines_won = std::collections::HashSet::new();
    for round in 0..200 {
        let id = format!("rules{round}");
        let created = games
            .create(&id, "tx", "xena", false, false, None)
            .await
            .unwrap();
        assert!(matches!(created, Answer::Changed(_)), "{created:?}");
        let joined = games.join(&id, "to", "otto", true, None).await.unwrap();
        let Answer::Changed(game) = joined else {
            panic!("{joined:?}")
        };
        let mut model = Model {
            board: [None; 9],
            x_token: "tx",
            o_token: "to",
            abandoned: false,
            last: None,
        };
        model.agrees(&game, "after the join");
        for step in 0..40 {
            let token = if dice.roll(2) == 0 { "tx" } else { "to" };
            let context = format!("game {round} step {step}, {token}");
            if model.is_over() {
                if model.abandoned || dice.roll(4) == 0 {
                    break;
                }
                // Both ask for a rematch: the first gets an ack, the second swaps the seats.
                let other = if token == "tx" { "to" } else { "tx" };
                let first = games.rematch(&id, token, None).await.unwrap();
                assert_eq!(first, Answer::Ack, "{context}");
                let second = games.rematch(&id, other, None).await.unwrap();
                let Answer::Changed(game) = second else {
                    panic!("{context}: {second:?}")
                };
                (model.x_token, model.o_token) = (model.o_token, model.x_token);
                model.board = [None; 9];
                model.last = None;
                model.agrees(&game, &context);
                rematches += 1;
                continue;
            }
            if dice.roll(25) == 0 {
                let answer = games.leave(&id, token, None).await.unwrap();
                let Answer::Changed(game) = answer else {
                    panic!("{context}: {answer:?}")
                };
                model.abandoned = true;
                model.agrees(&game, &context);
                assert_eq!(game.winner, Some(model.mark_of(token).other()), "{context}");
                leaves += 1;
                continue;
            }
            let cell = dice.roll(11) as i64 - 1;
            let expected = model.play(token, cell);
            let answer = games.play(&id, token, cell, None).await.unwrap();
            match (expected, answer) {
                (Expect::Made, Answer::Changed(game)) => {
                    model.agrees(&game, &format!("{context} on {cell}"));
                    lines_won.extend(game.line);
                    moves += 1;
                }
                (Expect::Again, Answer::Unchanged(game, seat)) => {
                    model.agrees(&game, &format!("{context} on {cell} again"));
                    assert_eq!(seat, Some(model.mark_of(token)), "{context}");
                    again += 1;
                }
                (Expect::Refused(code), Answer::Refused(got, _)) => {
                    assert_eq!(got, code, "{context} on {cell}");
                    refusals += 1;
                }
                (expected, answer) => {
                    panic!("{context} on {cell}: rules {expected:?}, script {answer:?}")
                }
            }
        }
    }
    // The random games did exercise every path.
    assert!(
        moves > 1000 && refusals > 1000,
        "{moves} moves, {refusals} refusals"
    );
    assert!(
        rematches > 20 && leaves > 20 && again > 20,
        "{rematches} rematches, {leaves} leaves, {again} latest moves asked for again"
    );
    assert_eq!(lines_won.len(), 8, "games won on every line: {lines_won:?}");
}

#[tokio::test]
async fn a_move_that_completes_two_lines_wins_with_the_first_of_them_in_the_rules_order() {
    let redis = Redis::start().await;
    let client = redis_conn::connect(&redis.url(), Role::Commands)
        .await
        .expect("Redis");
    let games = Games::new(client, false);
    games
        .create("two", "tx", "xena", false, false, None)
        .await
        .unwrap();
    games.join("two", "to", "otto", true, None).await.unwrap();
    // X takes the four corners, O the edges but one; X's centre completes both diagonals.
    let mut last = None;
    for (token, cell) in [
        ("tx", 0),
        ("to", 1),
        ("tx", 2),
        ("to", 3),
        ("tx", 6),
        ("to", 5),
        ("tx", 8),
        ("to", 7),
        ("tx", 4),
    ] {
        last = Some(games.play("two", token, cell, None).await.unwrap());
    }
    let Some(Answer::Changed(game)) = last else {
        panic!("{last:?}")
    };
    let Outcome::Won(mark, line) = rules::outcome(&game.board) else {
        panic!("{game:?}")
    };
    assert_eq!(
        (game.status, game.winner, game.line),
        (Status::Won, Some(mark), Some(line))
    );
    assert_eq!(game.line, Some([0, 4, 8]));
}
