//! RFC 4180 CSV, as a bulk create's body: records of cells, each with the line it starts
//! on (a quoted cell may hold commas, quotes doubled, and line breaks), read as the body
//! arrives ([`each_record`]).

use std::io::BufRead;

/// Calls `record` with each record of `input` in order, as it is read: a record is
/// complete at a line end outside quotes (its quotes are then even in number, as every
/// quote in a quoted cell is doubled). An unclosed quote, text after a closing quote or
/// a line that is not UTF-8 is an error: its line and why; so is `record`'s own.
pub fn each_record<E>(
    input: &mut dyn BufRead,
    mut record: impl FnMut(Record) -> Result<(), E>,
    error: impl Fn(usize, String) -> E,
) -> Result<(), E> {
    let mut text = String::new();
    let mut start = 1;
    let mut line = 0;
    let mut quotes = 0usize;
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        let n = input
            .read_until(b'\n', &mut bytes)
            .map_err(|e| error(line + 1, e.to_string()))?;
        if n > 0 {
            line += 1;
            let piece =
                std::str::from_utf8(&bytes).map_err(|e| error(line, format!("not UTF-8: {e}")))?;
            quotes += piece.matches('"').count();
            text.push_str(piece);
            if quotes % 2 == 1 {
                continue;
            }
        }
        if !text.is_empty() {
            let found = records(&text).map_err(|(at, why)| error(start + at - 1, why))?;
            for (at, cells) in found {
                record((start + at - 1, cells))?;
            }
        }
        if n == 0 {
            return Ok(());
        }
        text.clear();
        quotes = 0;
        start = line + 1;
    }
}

/// A record: the line it starts on (from 1) and its cells.
pub type Record = (usize, Vec<String>);

/// The records of `text`; blank lines are skipped. An unclosed quote, or text after a
/// closing quote, is an error: its line and why.
pub fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut out = Vec::new();
    let mut chars = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut quoted = false;
        loop {
            match chars.next() {
                None => {
                    cells.push(std::mem::take(&mut cell));
                    break;
                }
                Some('"') if cell.is_empty() && !quoted => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            None => return Err((start, "a quoted cell is not closed".into())),
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                cell.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                cell.push(c);
                            }
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                        return Err((line, "text after a closing quote".into()));
                    }
                }
                Some(',') => {
                    cells.push(std::mem::take(&mut cell));
                    quoted = false;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    cells.push(std::mem::take(&mut cell));
                    break;
                }
                Some(c) => cell.push(c),
            }
        }
        if !(cells.len() == 1 && cells[0].is_empty() && !quoted) {
            out.push((start, cells));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_cells_hold_commas_quotes_and_line_breaks() {
        let text = "title,tags\r\n\"a, \"\"b\"\"\",x;y\n\n\"two\nlines\",\nlast,z";
        let r = records(text).unwrap();
        assert_eq!(r[0], (1, vec!["title".to_owned(), "tags".to_owned()]));
        assert_eq!(r[1], (2, vec!["a, \"b\"".to_owned(), "x;y".to_owned()]));
        assert_eq!(r[2], (4, vec!["two\nlines".to_owned(), String::new()]));
        assert_eq!(r[3], (6, vec!["last".to_owned(), "z".to_owned()]));
        assert_eq!(records("a\n\"open").unwrap_err().0, 2);
        assert_eq!(records("\"a\"b").unwrap_err().0, 1);
    }

    fn streamed(text: &str) -> Result<Vec<Record>, (usize, String)> {
        let mut out = Vec::new();
        each_record(
            &mut text.as_bytes(),
            |r| {
                out.push(r);
                Ok(())
            },
            |at, why| (at, why),
        )?;
        Ok(out)
    }

    #[test]
    fn records_read_as_they_arrive_are_the_records_of_the_whole() {
        let text = "title,tags\r\n\"a, \"\"b\"\"\",x;y\n\n\"two\nlines\",\nlast,z";
        assert_eq!(streamed(text).unwrap(), records(text).unwrap());
        assert_eq!(streamed("a\n\"open\nmore").unwrap_err().0, 2);
        assert_eq!(streamed("a\nb\n\"a\"b\n").unwrap_err().0, 3);
    }
}
