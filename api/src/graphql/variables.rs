//! Variable defaults, filled in before execution.
//!
//! async-graphql 7.2 drops `@skip`/`@include` selections by the variables the
//! request sent, without the operation's defaults: `query($s: Boolean = true)
//! { a @skip(if: $s) }` sent without `s` answered `a`. The spec coerces the
//! variables first (an absent variable with a default takes the default), so
//! this does that, once, before anything reads them. A variable sent, even as
//! `null`, stays as sent.

use async_graphql::Request;

use super::order::operation;

pub fn fill_defaults(request: &mut Request) {
    let name = request.operation_name.clone();
    // Parsed by now (see `documents`), unless the schema runs without HTTP or
    // a socket: the executor then takes this parse and reports its errors.
    let Ok(document) = request.parsed_query() else { return };
    let Some(operation) = operation(document, name.as_deref()) else { return };
    let defaults: Vec<_> = operation
        .variable_definitions
        .iter()
        .filter_map(|d| Some((d.node.name.node.clone(), d.node.default_value.as_ref()?.node.clone())))
        .collect();
    for (name, value) in defaults {
        request.variables.entry(name).or_insert(value);
    }
}
