//! Tic-tac-toe rules: board, turns, win lines, draw, and a perfect player (minimax).
//! Pure: no I/O, no clock. The Lua scripts that apply moves in Redis mirror `outcome`;
//! the tests here pin down the rules both must follow.

use serde::{Deserialize, Serialize};

/// A player's mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mark {
    X,
    O,
}

impl Mark {
    pub fn other(self) -> Mark {
        match self {
            Mark::X => Mark::O,
            Mark::O => Mark::X,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mark::X => "X",
            Mark::O => "O",
        }
    }
}

/// Nine cells, row by row from the top left.
pub type Board = [Option<Mark>; 9];

/// The eight lines that win.
pub const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

/// Where a board stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not over; this mark moves next.
    Next(Mark),
    Won(Mark, [usize; 3]),
    Draw,
}

/// Whose turn it is on `board`, or how it ended. X always starts.
pub fn outcome(board: &Board) -> Outcome {
    for line in LINES {
        if let Some(mark) = board[line[0]] {
            if board[line[1]] == Some(mark) && board[line[2]] == Some(mark) {
                return Outcome::Won(mark, line);
            }
        }
    }
    let xs = board.iter().filter(|c| **c == Some(Mark::X)).count();
    let os = board.iter().filter(|c| **c == Some(Mark::O)).count();
    if xs + os == 9 {
        Outcome::Draw
    } else if xs > os {
        Outcome::Next(Mark::O)
    } else {
        Outcome::Next(Mark::X)
    }
}

/// Why a move was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveError {
    GameOver,
    NotYourTurn,
    CellTaken,
    NoSuchCell,
}

/// Applies `mark` on `cell`, checking turn, cell and that the game is still on.
pub fn play(board: &Board, mark: Mark, cell: usize) -> Result<Board, MoveError> {
    match outcome(board) {
        Outcome::Next(next) if next != mark => return Err(MoveError::NotYourTurn),
        Outcome::Next(_) => {}
        _ => return Err(MoveError::GameOver),
    }
    if cell > 8 {
        return Err(MoveError::NoSuchCell);
    }
    if board[cell].is_some() {
        return Err(MoveError::CellTaken);
    }
    let mut next = *board;
    next[cell] = Some(mark);
    Ok(next)
}

/// Score of `board` for `me` with `to_move` to play: +10 − depth for a win, 0 for a
/// draw, depth − 10 for a loss (sooner wins and later losses are better).
fn minimax(board: &mut Board, me: Mark, to_move: Mark, depth: i32) -> i32 {
    match outcome(board) {
        Outcome::Won(mark, _) => return if mark == me { 10 - depth } else { depth - 10 },
        Outcome::Draw => return 0,
        Outcome::Next(_) => {}
    }
    let mut best = if to_move == me { i32::MIN } else { i32::MAX };
    for cell in 0..9 {
        if board[cell].is_none() {
            board[cell] = Some(to_move);
            let score = minimax(board, me, to_move.other(), depth + 1);
            board[cell] = None;
            best = if to_move == me {
                best.max(score)
            } else {
                best.min(score)
            };
        }
    }
    best
}

/// Every move for `mark` that is as good as the best one: a perfect player picks any.
pub fn best_moves(board: &Board, mark: Mark) -> Vec<usize> {
    let mut scratch = *board;
    let mut best = i32::MIN;
    let mut moves = Vec::new();
    for cell in 0..9 {
        if scratch[cell].is_none() {
            scratch[cell] = Some(mark);
            let score = minimax(&mut scratch, mark, mark.other(), 1);
            scratch[cell] = None;
            if score > best {
                best = score;
                moves.clear();
            }
            if score == best {
                moves.push(cell);
            }
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(cells: &str) -> Board {
        let mut b = [None; 9];
        for (i, c) in cells.chars().enumerate() {
            b[i] = match c {
                'X' => Some(Mark::X),
                'O' => Some(Mark::O),
                _ => None,
            };
        }
        b
    }

    #[test]
    fn every_line_wins() {
        for line in LINES {
            let mut b = [None; 9];
            for cell in line {
                b[cell] = Some(Mark::O);
            }
            assert_eq!(outcome(&b), Outcome::Won(Mark::O, line), "line {line:?}");
        }
    }

    #[test]
    fn turns_alternate_starting_with_x() {
        assert_eq!(outcome(&board(".........")), Outcome::Next(Mark::X));
        assert_eq!(outcome(&board("X........")), Outcome::Next(Mark::O));
        assert_eq!(outcome(&board("XO.......")), Outcome::Next(Mark::X));
    }

    #[test]
    fn a_full_board_without_a_line_is_a_draw() {
        assert_eq!(outcome(&board("XOXXOOOXX")), Outcome::Draw);
    }

    #[test]
    fn a_win_on_the_last_cell_is_a_win_not_a_draw() {
        assert_eq!(
            outcome(&board("XOXOXOOXX")),
            Outcome::Won(Mark::X, [0, 4, 8])
        );
    }

    #[test]
    fn moves_are_checked() {
        let b = board("X........");
        assert_eq!(play(&b, Mark::X, 1), Err(MoveError::NotYourTurn));
        assert_eq!(play(&b, Mark::O, 0), Err(MoveError::CellTaken));
        assert_eq!(play(&b, Mark::O, 9), Err(MoveError::NoSuchCell));
        assert_eq!(
            play(&board("XXXOO...."), Mark::O, 8),
            Err(MoveError::GameOver)
        );
        assert_eq!(play(&b, Mark::O, 4).unwrap()[4], Some(Mark::O));
    }

    #[test]
    fn the_perfect_player_wins_when_it_can_and_blocks_when_it_must() {
        assert_eq!(best_moves(&board("XX.OO...."), Mark::X), vec![2]);
        assert_eq!(best_moves(&board("XX.O....."), Mark::O), vec![2]);
    }

    #[test]
    fn the_perfect_player_never_loses_to_any_opponent() {
        // X tries every possible sequence; O answers with every best move.
        fn explore(b: Board, bot: Mark) {
            match outcome(&b) {
                Outcome::Won(mark, _) => assert_eq!(mark, bot, "bot lost on {b:?}"),
                Outcome::Draw => {}
                Outcome::Next(m) if m == bot => {
                    for cell in best_moves(&b, bot) {
                        explore(play(&b, bot, cell).unwrap(), bot);
                    }
                }
                Outcome::Next(m) => {
                    for cell in 0..9 {
                        if b[cell].is_none() {
                            explore(play(&b, m, cell).unwrap(), bot);
                        }
                    }
                }
            }
        }
        explore([None; 9], Mark::O);
        explore([None; 9], Mark::X);
    }
}
