//! A JSON bulk body split as it is read: the elements of its one large array (a bare
//! array, or the array member of an object such as `{"updates": [..], "options":
//! {..}}`) are handed over one at a time, as raw JSON, and the object's other members are
//! kept raw to be parsed after. Each part is then parsed by [`parse_json_at`], with the
//! errors of a whole body (naming the field, e.g. `updates[3].status`).
//!
//! [`parse_json_at`]: super::extract::parse_json_at

use std::cell::RefCell;
use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::ApiError;
use super::extract::json_error;

/// What a body is allowed to be.
pub struct Shape {
    /// The array's name in the object form (`updates`, `cases`, `caseIds`).
    pub array: &'static str,
    /// Every member the object form may have, the array's included.
    pub members: &'static [&'static str],
    /// Whether a bare array is allowed.
    pub bare: bool,
    /// What the body should be, for the error when it is neither form.
    pub expecting: &'static str,
}

/// A body, its array's elements handed over.
#[derive(Debug, Default)]
pub struct Split {
    /// It was a bare array.
    pub bare: bool,
    /// The object had its array member.
    pub has_array: bool,
    /// The object's other members, raw.
    pub members: Vec<(String, Box<RawValue>)>,
}

impl Split {
    /// The raw member `name`, if the object had it.
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, raw)| raw.get().as_bytes())
    }
}

/// Where a split stands: the path of the value being read (for a type error), and the
/// element handler's own error, which stops the split.
struct State<'a> {
    element: &'a mut dyn FnMut(&str, &RawValue) -> Result<(), ApiError>,
    path: String,
    stopped: Option<ApiError>,
}

/// Reads `input` as `shape` says, calling `element(path, raw)` for each element of its
/// array in order (`path` is `[i]` or `updates[i]`).
pub fn split_json(
    input: &mut dyn Read,
    shape: &Shape,
    element: &mut dyn FnMut(&str, &RawValue) -> Result<(), ApiError>,
) -> Result<Split, ApiError> {
    let state = RefCell::new(State {
        element,
        path: String::new(),
        stopped: None,
    });
    let mut de = serde_json::Deserializer::from_reader(input);
    let result = de::Deserializer::deserialize_any(
        &mut de,
        Top {
            shape,
            state: &state,
        },
    )
    .and_then(|split| de.end().map(|()| split));
    let state = state.into_inner();
    match result {
        Ok(split) => Ok(split),
        Err(_) if state.stopped.is_some() => Err(state.stopped.unwrap_or_else(ApiError::internal)),
        Err(e) => Err(json_error(&state.path, e)),
    }
}

struct Top<'s, 'a> {
    shape: &'s Shape,
    state: &'s RefCell<State<'a>>,
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = Split;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shape.expecting)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Split, A::Error> {
        if !self.shape.bare {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        Elements {
            prefix: "",
            state: self.state,
        }
        .visit_seq(seq)?;
        Ok(Split {
            bare: true,
            ..Split::default()
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Split, A::Error> {
        let mut split = Split::default();
        let mut seen: Vec<&'static str> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let Some(name) = self.shape.members.iter().find(|m| **m == key) else {
                return Err(de::Error::unknown_field(&key, self.shape.members));
            };
            if seen.contains(name) {
                return Err(de::Error::duplicate_field(name));
            }
            seen.push(name);
            self.state.borrow_mut().path = (*name).to_owned();
            if *name == self.shape.array {
                split.has_array = true;
                map.next_value_seed(Elements {
                    prefix: name,
                    state: self.state,
                })?;
            } else {
                split
                    .members
                    .push((key, map.next_value::<Box<RawValue>>()?));
            }
            self.state.borrow_mut().path = String::new();
        }
        Ok(split)
    }
}

/// The array's elements, each handed over as it is read.
struct Elements<'s, 'a> {
    prefix: &'static str,
    state: &'s RefCell<State<'a>>,
}

impl<'de> DeserializeSeed<'de> for Elements<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let path = format!("{}[{i}]", self.prefix);
            self.state.borrow_mut().path.clone_from(&path);
            let Some(raw) = seq.next_element::<Box<RawValue>>()? else {
                break;
            };
            let mut state = self.state.borrow_mut();
            if let Err(e) = (state.element)(&path, &raw) {
                state.stopped = Some(e);
                return Err(de::Error::custom("stopped"));
            }
            i += 1;
        }
        self.state.borrow_mut().path = self.prefix.to_owned();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        array: "updates",
        members: &["updates", "options"],
        bare: true,
        expecting: "an array or an object",
    };

    fn split(body: &str) -> Result<(Split, Vec<(String, String)>), ApiError> {
        let mut seen = Vec::new();
        let split = split_json(&mut body.as_bytes(), &SHAPE, &mut |path, raw| {
            seen.push((path.to_owned(), raw.get().to_owned()));
            Ok(())
        })?;
        Ok((split, seen))
    }

    #[test]
    fn elements_come_one_by_one_and_members_stay_raw() {
        let (s, seen) = split(r#"{"options": {"atomic": true}, "updates": [{"a":1}, 2]}"#).unwrap();
        assert!(s.has_array && !s.bare);
        assert_eq!(s.member("options"), Some(br#"{"atomic": true}"#.as_slice()));
        assert_eq!(
            seen,
            [
                ("updates[0]".into(), r#"{"a":1}"#.into()),
                ("updates[1]".into(), "2".into())
            ]
        );
        let (s, seen) = split(" [ ] ").unwrap();
        assert!(s.bare && seen.is_empty());
    }

    #[test]
    fn errors_name_where_they_are() {
        let e = split(r#"{"updates": [], "extra": 1}"#).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.errors[0].field.as_str()),
            (400, "extra")
        );
        let e = split(r#"{"updates": 5}"#).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.errors[0].field.as_str()),
            (422, "updates")
        );
        let e = split(r#"{"updates": [1, }"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = split("[1] x").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        let e = split("7").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.errors[0].field.as_str()),
            (422, "body")
        );
        let e = split(r#"{"updates": [], "updates": []}"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
    }
}
