//! # attribute-type
//!
//! ## What it checks
//! The value type of every registry attribute on a span against the type the conventions give
//! it: `int` (a count sent as a string or a double), `double` (an int is accepted: JSON
//! exporters write whole numbers as ints), `string`, `boolean`, `string[]` (a JSON-encoded
//! string such as `"[\"stop\"]"` or a plain string is not an array), and `any` (a structured
//! value, or on spans a string holding JSON). The message attributes (`gen_ai.input.messages`,
//! …) are `invalid-message-content`'s. Values are never printed, only their types.
//!
//! ## Why it matters
//! Backends index attributes by type: token counts sent as strings are not summed, a
//! `finish_reasons` string is not filterable as a list, and a query that works for one library
//! silently misses another's spans.
//!
//! ## Example
//! `{"key": "gen_ai.response.finish_reasons", "value": {"stringValue": "[\"stop\"]"}}` should
//! be `{"arrayValue": {"values": [{"stringValue": "stop"}]}}`.
//!
//! ## Fix
//! Record the value with the conventions' type (an array attribute, an int, …).

use super::rulesfile::AttributeType;
use super::{RuleInfo, SpanContext};
use crate::finding::{Finding, Severity};
use crate::model::Value;

pub const INFO: RuleInfo = RuleInfo {
    id: "attribute-type",
    summary: "an attribute's value has another type than the conventions define",
    default_severity: Severity::Error,
};

pub fn check(ctx: &SpanContext<'_, '_>, out: &mut Vec<Finding>) {
    for (attribute, facts) in ctx.attributes_with_facts() {
        let Some(def) = ctx.rules.attribute_of(facts) else {
            continue;
        };
        if facts.message {
            continue;
        }
        let Some(actual) = mismatch(def.ty, &attribute.value) else {
            continue;
        };
        let expected = type_name(def.ty);
        out.push(
            ctx.finding(&INFO, Some(&attribute.key), attribute.offset, || {
                (
                    format!(
                        "`{}` is {actual}, but the conventions define it as `{expected}`",
                        attribute.key
                    ),
                    Some(help(def.ty, &attribute.value)),
                )
            }),
        );
    }
}

/// How the value is wrong for the type, or `None` when it fits.
fn mismatch(ty: AttributeType, value: &Value<'_>) -> Option<&'static str> {
    let fits = match (ty, value) {
        (_, Value::Empty) => true,
        (AttributeType::String | AttributeType::TemplateString, Value::String(_)) => true,
        (AttributeType::Int, Value::Int(_)) => true,
        (AttributeType::Double, Value::Double(_) | Value::Int(_)) => true,
        (AttributeType::Boolean, Value::Bool(_)) => true,
        (AttributeType::StringArray, Value::Array(items)) => {
            items.iter().all(|v| matches!(v, Value::String(_)))
        }
        (AttributeType::IntArray, Value::Array(items)) => {
            items.iter().all(|v| matches!(v, Value::Int(_)))
        }
        (AttributeType::DoubleArray, Value::Array(items)) => items
            .iter()
            .all(|v| matches!(v, Value::Double(_) | Value::Int(_))),
        (AttributeType::BooleanArray, Value::Array(items)) => {
            items.iter().all(|v| matches!(v, Value::Bool(_)))
        }
        (AttributeType::Any, Value::String(s)) => is_json(s),
        (AttributeType::Any, _) => true,
        _ => false,
    };
    if fits {
        return None;
    }
    Some(match value {
        Value::String(s) if is_array_type(ty) && s.trim_start().starts_with('[') && is_json(s) => {
            "a JSON-encoded string"
        }
        Value::String(_) if ty == AttributeType::Any => "a string that is not JSON",
        Value::String(_) => "a string",
        Value::Int(_) => "an int",
        Value::Double(_) => "a double",
        Value::Bool(_) => "a boolean",
        Value::Bytes(_) => "bytes",
        Value::Array(_) if is_array_type(ty) => "an array with elements of another type",
        Value::Array(_) => "an array",
        Value::KvList(_) => "a key-value list",
        Value::Empty => "empty",
    })
}

fn is_json(s: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}

fn is_array_type(ty: AttributeType) -> bool {
    matches!(
        ty,
        AttributeType::StringArray
            | AttributeType::IntArray
            | AttributeType::DoubleArray
            | AttributeType::BooleanArray
    )
}

fn help(ty: AttributeType, value: &Value<'_>) -> String {
    match (ty, value) {
        (AttributeType::StringArray, Value::String(_)) => {
            "record an array attribute (`arrayValue` of strings), not a string".to_string()
        }
        (AttributeType::Int, Value::String(_)) => {
            "record the number as an int (`intValue`), not as text".to_string()
        }
        (AttributeType::Any, Value::String(_)) => {
            "record a structured value, or a string holding valid JSON".to_string()
        }
        _ => format!("record a value of type `{}`", type_name(ty)),
    }
}

/// The conventions' name of a type.
pub fn type_name(ty: AttributeType) -> &'static str {
    match ty {
        AttributeType::String => "string",
        AttributeType::Int => "int",
        AttributeType::Double => "double",
        AttributeType::Boolean => "boolean",
        AttributeType::StringArray => "string[]",
        AttributeType::IntArray => "int[]",
        AttributeType::DoubleArray => "double[]",
        AttributeType::BooleanArray => "boolean[]",
        AttributeType::Any => "any",
        AttributeType::TemplateString => "template[string]",
    }
}
