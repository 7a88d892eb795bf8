//! The one table: Missive's median, the peer's, their ratio, the floor and the goal.

use std::time::Duration;

/// A figure: a time or a size.
#[derive(Clone, Copy, Debug)]
pub enum Figure {
    Time(Duration),
    Bytes(f64),
}

impl Figure {
    fn value(self) -> f64 {
        match self {
            Figure::Time(d) => d.as_secs_f64(),
            Figure::Bytes(b) => b,
        }
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Figure::Time(d) => {
                let us = d.as_secs_f64() * 1e6;
                if us >= 10_000.0 {
                    write!(f, "{:.1} ms", us / 1000.0)
                } else if us >= 1000.0 {
                    write!(f, "{:.2} ms", us / 1000.0)
                } else if us >= 100.0 {
                    write!(f, "{us:.0} µs")
                } else if us >= 10.0 {
                    write!(f, "{us:.1} µs")
                } else {
                    write!(f, "{us:.2} µs")
                }
            }
            Figure::Bytes(b) => write!(f, "{b:.0} B"),
        }
    }
}

/// One line of the table.
pub struct Row {
    pub work: String,
    pub missive: Figure,
    pub peer: Option<(&'static str, Figure)>,
    /// The floor and what it is made of.
    pub floor: Option<(Figure, String)>,
    /// The largest Missive / peer ratio the issue asks for.
    pub goal: Option<f64>,
    /// The largest Missive figure the issue asks for (a size).
    pub limit: Option<f64>,
}

impl Row {
    pub fn new(work: impl Into<String>, missive: Figure) -> Self {
        Row {
            work: work.into(),
            missive,
            peer: None,
            floor: None,
            goal: None,
            limit: None,
        }
    }
    pub fn peer(mut self, name: &'static str, figure: Figure) -> Self {
        self.peer = Some((name, figure));
        self
    }
    pub fn floor(mut self, figure: Duration, made_of: impl Into<String>) -> Self {
        self.floor = Some((Figure::Time(figure), made_of.into()));
        self
    }
    pub fn limit(mut self, most: f64) -> Self {
        self.limit = Some(most);
        self
    }
    pub fn goal(mut self, ratio: f64) -> Self {
        self.goal = Some(ratio);
        self
    }
}

/// A section heading inside the table.
pub enum Line {
    Section(&'static str),
    Row(Row),
}

pub fn print(lines: &[Line]) {
    println!(
        "| work | Missive | peer | peer figure | Missive / peer | goal | floor (made of) | Missive / floor |"
    );
    println!("|---|---:|---|---:|---:|---|---|---:|");
    for line in lines {
        match line {
            Line::Section(s) => println!("| **{s}** | | | | | | | |"),
            Line::Row(r) => print_row(r),
        }
    }
}

fn print_row(r: &Row) {
    let (peer, peer_fig, ratio) = match r.peer {
        Some((name, fig)) => (
            name.to_string(),
            fig.to_string(),
            format!("{:.2}×", r.missive.value() / fig.value()),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    let goal = match (r.goal, r.peer) {
        (Some(g), Some((_, fig))) => {
            let met = r.missive.value() / fig.value() <= g;
            format!("≤ {g}× {}", if met { "met" } else { "**not met**" })
        }
        _ => match r.limit {
            Some(most) => {
                let met = r.missive.value() <= most;
                format!(
                    "≤ {} {}",
                    Figure::Bytes(most),
                    if met { "met" } else { "**not met**" }
                )
            }
            None => String::new(),
        },
    };
    let (floor, vs_floor) = match &r.floor {
        Some((fig, made_of)) => (
            format!("{fig} ({made_of})"),
            format!("{:.2}×", r.missive.value() / fig.value()),
        ),
        None => (String::new(), String::new()),
    };
    println!(
        "| {} | {} | {peer} | {peer_fig} | {ratio} | {goal} | {floor} | {vs_floor} |",
        r.work, r.missive
    );
}
