//! Protobuf wire-format primitives: varints, field keys, and the 4-byte length-prefixed framing
//! the Collector file exporter writes.
//!
//! prost decodes messages but reports no positions; this module walks the same bytes by hand so
//! the proto reader can attach byte offsets to spans and attributes, and can say exactly where a
//! file is broken. Nothing here recurses on input: groups are skipped with an explicit stack.

use std::fmt;

/// A malformed byte sequence at an absolute byte offset of the decompressed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub offset: usize,
    pub message: String,
}

impl WireError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        WireError {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.message)
    }
}

/// Protobuf wire types (groups are only skipped, never interpreted).
pub const VARINT: u8 = 0;
pub const I64: u8 = 1;
pub const LEN: u8 = 2;
pub const SGROUP: u8 = 3;
pub const EGROUP: u8 = 4;
pub const I32: u8 = 5;

/// One field of a message, as found on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Field<'b> {
    /// Absolute offset of the field's tag.
    pub offset: usize,
    pub number: u32,
    pub wire_type: u8,
    /// The payload of a length-delimited field (empty for other wire types).
    pub data: &'b [u8],
    /// Absolute offset of `data`.
    pub data_offset: usize,
}

/// Reads every field of one message. `base` is the absolute offset of `msg[0]`.
pub fn fields(msg: &[u8], base: usize) -> Result<Vec<Field<'_>>, WireError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < msg.len() {
        out.push(read_field(msg, &mut pos, base)?);
    }
    Ok(out)
}

/// Reads one field (key and value) starting at `*pos`, and moves `*pos` past it.
fn read_field<'b>(msg: &'b [u8], pos: &mut usize, base: usize) -> Result<Field<'b>, WireError> {
    let offset = base + *pos;
    let (number, wire_type) = read_key(msg, pos, base)?;
    let data = match wire_type {
        SGROUP => {
            skip_group(msg, pos, base, number)?;
            &[][..]
        }
        EGROUP => {
            return Err(WireError::new(
                offset,
                format!("unexpected end-group tag for field {number} outside a group"),
            ));
        }
        _ => read_value(msg, pos, base, number, wire_type)?,
    };
    Ok(Field {
        offset,
        number,
        wire_type,
        data,
        // The payload is the last thing read.
        data_offset: base + *pos - data.len(),
    })
}

/// Reads a field key: field number and wire type.
fn read_key(msg: &[u8], pos: &mut usize, base: usize) -> Result<(u32, u8), WireError> {
    let offset = base + *pos;
    let key = read_varint(msg, pos, base)?;
    let wire_type = (key & 7) as u8;
    let number = key >> 3;
    if number == 0 || number > u64::from(u32::MAX >> 3) {
        return Err(WireError::new(
            offset,
            format!("expected a field tag, found invalid field number {number}"),
        ));
    }
    if wire_type > I32 {
        return Err(WireError::new(
            offset,
            format!(
                "bad wire type {wire_type} for field {number}: expected 0 (varint), 1 (64-bit), \
                 2 (length-delimited), 3/4 (group) or 5 (32-bit)"
            ),
        ));
    }
    Ok((number as u32, wire_type))
}

/// Skips or slices the value of a non-group field; returns the payload of a length-delimited one.
fn read_value<'b>(
    msg: &'b [u8],
    pos: &mut usize,
    base: usize,
    number: u32,
    wire_type: u8,
) -> Result<&'b [u8], WireError> {
    let start = *pos;
    let len = match wire_type {
        VARINT => {
            read_varint(msg, pos, base)?;
            return Ok(&[]);
        }
        I64 => 8,
        I32 => 4,
        _ => {
            let len = read_varint(msg, pos, base)?;
            usize::try_from(len).unwrap_or(usize::MAX)
        }
    };
    let remaining = msg.len() - *pos;
    if len > remaining {
        return Err(WireError::new(
            base + start,
            format!(
                "truncated: field {number} needs {len} bytes but only {remaining} remain in the \
                 enclosing message"
            ),
        ));
    }
    let data = msg.get(*pos..*pos + len).unwrap_or_default();
    *pos += len;
    Ok(if wire_type == LEN { data } else { &[] })
}

/// Skips a (deprecated) group up to its matching end tag, with an explicit stack.
fn skip_group(msg: &[u8], pos: &mut usize, base: usize, number: u32) -> Result<(), WireError> {
    let start = base + *pos;
    let mut open = vec![number];
    while let Some(&innermost) = open.last() {
        if *pos >= msg.len() {
            return Err(WireError::new(
                start,
                format!("truncated: group for field {number} has no end tag"),
            ));
        }
        let tag_offset = base + *pos;
        let (n, wire_type) = read_key(msg, pos, base)?;
        match wire_type {
            SGROUP => open.push(n),
            EGROUP if n == innermost => {
                open.pop();
            }
            EGROUP => {
                return Err(WireError::new(
                    tag_offset,
                    format!("expected the end tag of group {innermost}, found one for field {n}"),
                ));
            }
            _ => {
                read_value(msg, pos, base, n, wire_type)?;
            }
        }
    }
    Ok(())
}

/// Reads a base-128 varint at `*pos`.
pub fn read_varint(msg: &[u8], pos: &mut usize, base: usize) -> Result<u64, WireError> {
    let start = *pos;
    let mut value = 0u64;
    for i in 0..10 {
        let Some(&byte) = msg.get(*pos) else {
            return Err(WireError::new(
                base + start,
                "truncated: the input ends inside a varint",
            ));
        };
        *pos += 1;
        if i == 9 && byte > 1 {
            break;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::new(
        base + start,
        "bad varint: expected at most 10 bytes encoding a 64-bit value",
    ))
}

// ---------------------------------------------------------------------------------------------
// Length-prefixed framing: each message preceded by its length as a 4-byte big-endian integer.

/// One frame of a length-prefixed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'b> {
    /// Absolute offset of the frame's payload (just after its length prefix).
    pub offset: usize,
    pub data: &'b [u8],
}

/// Reads the frame starting at `pos`: `Ok(None)` at the end of the data.
pub fn frame_at(data: &[u8], pos: usize) -> Result<Option<Frame<'_>>, WireError> {
    let rest = data.get(pos..).unwrap_or_default();
    if rest.is_empty() {
        return Ok(None);
    }
    let Some(header) = rest.first_chunk::<4>() else {
        return Err(WireError::new(
            pos,
            format!(
                "truncated frame: expected a 4-byte big-endian length, found {} bytes",
                rest.len()
            ),
        ));
    };
    let len = u32::from_be_bytes(*header) as usize;
    let body = rest.get(4..).unwrap_or_default();
    match body.get(..len) {
        Some(data) => Ok(Some(Frame {
            offset: pos + 4,
            data,
        })),
        None => Err(WireError::new(
            pos,
            format!(
                "truncated frame: its length prefix says {len} bytes but only {} remain",
                body.len()
            ),
        )),
    }
}

/// Splits `data` into length-prefixed frames when they tile it exactly; `None` otherwise.
pub fn exact_frames(data: &[u8]) -> Option<Vec<Frame<'_>>> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while let Some(frame) = frame_at(data, pos).ok()? {
        pos = frame.offset + frame.data.len();
        frames.push(frame);
    }
    (!frames.is_empty()).then_some(frames)
}

/// Prefixes each message with its 4-byte big-endian length. (Messages over 4 GiB cannot be
/// framed; their prefix saturates and the reader reports a truncated frame.)
pub fn join_frames<T: AsRef<[u8]>>(messages: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for message in messages {
        let message = message.as_ref();
        out.extend_from_slice(
            &u32::try_from(message.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut pos = 0;
        assert_eq!(read_varint(&[0xac, 0x02], &mut pos, 0), Ok(300));
        assert_eq!(pos, 2);
        let mut pos = 0;
        let err = read_varint(&[0x80, 0x80], &mut pos, 10).unwrap_err();
        assert_eq!(err.offset, 10);
        assert!(err.message.contains("truncated"));
        let mut pos = 0;
        let err = read_varint(&[0xff; 11], &mut pos, 0).unwrap_err();
        assert!(err.message.contains("bad varint"));
    }

    #[test]
    fn fields_give_absolute_offsets_and_payloads() {
        // field 1 varint 150, field 2 "hi"
        let msg = [0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i'];
        let fields = fields(&msg, 100).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!((fields[0].offset, fields[0].number), (100, 1));
        assert_eq!((fields[1].offset, fields[1].data), (103, &b"hi"[..]));
        assert_eq!(fields[1].data_offset, 105);
    }

    #[test]
    fn bad_wire_type_and_truncation_are_errors() {
        let err = fields(&[0x0f], 0).unwrap_err();
        assert!(err.message.contains("bad wire type 7"), "{err}");
        let err = fields(&[0x08, 0x01, 0x12, 0x05, b'a'], 0).unwrap_err();
        assert_eq!(err.offset, 3);
        assert!(err.message.contains("needs 5 bytes"), "{err}");
    }

    #[test]
    fn groups_are_skipped() {
        // group 3 { field 1 = 1, group 4 {} }, then field 1 = 2
        let msg = [0x1b, 0x08, 0x01, 0x23, 0x24, 0x1c, 0x08, 0x02];
        let fields = fields(&msg, 0).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].offset, 6);
        assert!(super::fields(&[0x1b, 0x08, 0x01], 0).is_err());
    }

    #[test]
    fn frames() {
        let stream = join_frames(&[&b"ab"[..], b"", b"c"]);
        let frames = exact_frames(&stream).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[2],
            Frame {
                offset: 14,
                data: b"c"
            }
        );
        assert!(exact_frames(&stream[..stream.len() - 1]).is_none());
        assert!(exact_frames(b"").is_none());
        assert!(frame_at(&stream, stream.len() - 3).is_err());
    }
}
