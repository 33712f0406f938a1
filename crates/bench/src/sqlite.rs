//! SQLite as a baseline (cargo feature `sqlite`): the messages in an
//! in-memory table with an index on every filtered and sorted column, each
//! list request translated to one SELECT for the page plus one COUNT, and
//! bodies written with msgdex's own writers so that answers compare byte
//! for byte.
//!
//! `filters-q` uses lower-cased copies of the three searched columns made
//! at load (SQLite's `lower()` folds ASCII only), matched with `instr`.

use std::sync::Mutex;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use msgdex::testing::{write_json_string, PageFrame};
use msgdex::{DateTime, Engine, Field, FieldKind, FieldValue, ListQuery, Message, Presence, QueryLimits, SortField};

/// SQLite behind the [`Engine`] trait.
pub struct SqliteEngine {
    connection: Mutex<Connection>,
    count: usize,
}

const TEXT_COPIES: [(Field, &str); 3] =
    [(Field::Correspondent, "q_correspondent"), (Field::Destination, "q_destination"), (Field::Origin, "q_origin")];

/// Columns with an index: every filtered and every sorted one (msgdex's
/// bitmap fields, the presence filters and the date/time sort keys).
fn indexed_fields() -> impl Iterator<Item = Field> {
    msgdex::testing::BITMAP_FIELDS.into_iter().chain([
        Field::Anonymized,
        Field::Read,
        Field::Created,
        Field::Modified,
        Field::DateTime,
    ])
}

fn column_type(field: Field) -> &'static str {
    match field.kind() {
        FieldKind::DateTime => "INTEGER",
        _ => "TEXT",
    }
}

impl SqliteEngine {
    /// Loads the messages into a new in-memory database and indexes it.
    pub fn new(messages: &[Message]) -> rusqlite::Result<SqliteEngine> {
        let mut connection = Connection::open_in_memory()?;
        connection.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
        let mut columns: Vec<String> =
            Field::ALL.iter().map(|field| format!("\"{}\" {}", field.name(), column_type(*field))).collect();
        columns[0].push_str(" PRIMARY KEY");
        columns.extend(TEXT_COPIES.iter().map(|(_, name)| format!("\"{name}\" TEXT")));
        connection.execute_batch(&format!("CREATE TABLE messages ({})", columns.join(", ")))?;
        let transaction = connection.transaction()?;
        {
            let placeholders = vec!["?"; Field::ALL.len() + TEXT_COPIES.len()].join(", ");
            let mut insert = transaction.prepare(&format!("INSERT INTO messages VALUES ({placeholders})"))?;
            let mut json = Vec::new();
            for message in messages {
                let mut values: Vec<Value> = Field::ALL
                    .iter()
                    .map(|&field| match message.get(field) {
                        FieldValue::Null => Value::Null,
                        FieldValue::Str(text) => Value::Text(text.to_owned()),
                        FieldValue::DateTime(value) => Value::Integer(value.seconds()),
                        list @ FieldValue::List(_) => {
                            json.clear();
                            list.write_json(&mut json);
                            Value::Text(String::from_utf8(json.clone()).expect("JSON is UTF-8"))
                        }
                    })
                    .collect();
                values.extend(TEXT_COPIES.iter().map(|(field, _)| match message.get(*field) {
                    FieldValue::Str(text) => Value::Text(text.to_lowercase()),
                    _ => Value::Null,
                }));
                insert.execute(params_from_iter(values))?;
            }
        }
        transaction.commit()?;
        for field in indexed_fields() {
            connection.execute_batch(&format!("CREATE INDEX \"by_{0}\" ON messages (\"{0}\")", field.name()))?;
        }
        connection.execute_batch("ANALYZE")?;
        Ok(SqliteEngine { connection: Mutex::new(connection), count: messages.len() })
    }

    /// The WHERE clause and its parameters for a query's filters.
    fn filters(query: &ListQuery) -> (String, Vec<Value>) {
        let mut clauses: Vec<String> = Vec::new();
        let mut parameters: Vec<Value> = Vec::new();
        let mut one_of = |field: Field, values: Vec<String>, clauses: &mut Vec<String>| {
            clauses.push(format!("\"{}\" IN ({})", field.name(), vec!["?"; values.len()].join(", ")));
            parameters.extend(values.into_iter().map(Value::Text));
        };
        for filter in query.value_filters() {
            one_of(filter.field(), filter.values().to_vec(), &mut clauses);
        }
        let facets = query.facets();
        if let Some(channels) = facets.channels() {
            one_of(Field::Channel, channels.iter().map(|value| value.as_str().to_owned()).collect(), &mut clauses);
        }
        if let Some(directions) = facets.directions() {
            one_of(Field::Direction, directions.iter().map(|value| value.as_str().to_owned()).collect(), &mut clauses);
        }
        if let Some(statuses) = facets.delivery_statuses() {
            one_of(
                Field::DeliveryStatus,
                statuses.iter().map(|value| value.as_str().to_owned()).collect(),
                &mut clauses,
            );
        }
        for (field, presence) in [(Field::Anonymized, facets.anonymized()), (Field::Read, facets.read())] {
            match presence {
                Presence::Unset => {}
                Presence::Yes => clauses.push(format!("\"{}\" IS NOT NULL", field.name())),
                Presence::No => clauses.push(format!("\"{}\" IS NULL", field.name())),
            }
        }
        let bounds = [
            ("date_time", ">=", query.date_time_from()),
            ("date_time", "<=", query.date_time_to()),
            ("modified", ">", query.modified_after()),
            ("modified", "<", query.modified_before()),
        ];
        for (column, operator, bound) in bounds {
            if let Some(bound) = bound {
                clauses.push(format!("\"{column}\" {operator} ?"));
                parameters.push(Value::Integer(bound.seconds()));
            }
        }
        if let Some(text) = query.text() {
            let tests: Vec<String> = TEXT_COPIES.iter().map(|(_, name)| format!("instr(\"{name}\", ?) > 0")).collect();
            clauses.push(format!("({})", tests.join(" OR ")));
            parameters.extend(std::iter::repeat_n(Value::Text(text.to_owned()), TEXT_COPIES.len()));
        }
        let clause = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        (clause, parameters)
    }
}

/// Writes one SQLite value of a field as JSON, as msgdex would.
fn write_value(field: Field, value: rusqlite::types::ValueRef<'_>, out: &mut Vec<u8>) {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => out.extend_from_slice(b"null"),
        ValueRef::Integer(seconds) => {
            FieldValue::DateTime(DateTime::from_seconds(seconds).expect("stored date/times are valid")).write_json(out)
        }
        ValueRef::Text(text) if field.kind() == FieldKind::StringList => out.extend_from_slice(text),
        ValueRef::Text(text) => write_json_string(out, std::str::from_utf8(text).expect("stored text is UTF-8")),
        ValueRef::Real(_) | ValueRef::Blob(_) => unreachable!("no such column"),
    }
}

fn write_rows(
    statement: &mut rusqlite::CachedStatement<'_>,
    parameters: Vec<Value>,
    fields: &[Field],
    out: &mut Vec<u8>,
) -> rusqlite::Result<usize> {
    let mut rows = statement.query(params_from_iter(parameters))?;
    let mut written = 0;
    while let Some(row) = rows.next()? {
        if written > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (position, field) in fields.iter().enumerate() {
            if position > 0 {
                out.push(b',');
            }
            write_json_string(out, field.name());
            out.push(b':');
            write_value(*field, row.get_ref(position)?, out);
        }
        out.push(b'}');
        written += 1;
    }
    Ok(written)
}

fn select_list(fields: &[Field]) -> String {
    fields.iter().map(|field| format!("\"{}\"", field.name())).collect::<Vec<_>>().join(", ")
}

impl Engine for SqliteEngine {
    fn message_count(&self) -> u64 {
        self.count as u64
    }

    fn limits(&self) -> QueryLimits {
        QueryLimits::default()
    }

    fn list_into(&self, query: &ListQuery, out: &mut Vec<u8>) {
        let connection = self.connection.lock().expect("no panics while holding the connection");
        let (filters, parameters) = SqliteEngine::filters(query);
        let item_count: i64 = connection
            .prepare_cached(&format!("SELECT COUNT(*) FROM messages{filters}"))
            .and_then(|mut statement| statement.query_row(params_from_iter(parameters.clone()), |row| row.get(0)))
            .expect("generated SQL is valid");
        let order: Vec<String> = query
            .sort()
            .iter()
            .map(|key| {
                let name = match key.field {
                    SortField::Id => "_id",
                    other => other.field().name(),
                };
                format!("\"{name}\" {}", if key.descending { "DESC" } else { "ASC" })
            })
            .collect();
        let offset = i64::try_from(query.offset()).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {} FROM messages{filters} ORDER BY {} LIMIT {} OFFSET {offset}",
            select_list(query.attributes()),
            order.join(", "),
            query.per_page()
        );
        let frame = PageFrame { item_count: item_count as u64, page: query.page(), per_page: query.per_page() };
        frame.write_body(out, |out| {
            let mut statement = connection.prepare_cached(&sql).expect("generated SQL is valid");
            write_rows(&mut statement, parameters, query.attributes(), out).expect("the query runs");
        });
    }

    fn retrieve_into(&self, id: &str, out: &mut Vec<u8>) -> bool {
        let connection = self.connection.lock().expect("no panics while holding the connection");
        let sql = format!("SELECT {} FROM messages WHERE \"_id\" = ?", select_list(&Field::ALL));
        let mut statement = connection.prepare_cached(&sql).expect("generated SQL is valid");
        let mut body = Vec::new();
        let found = write_rows(&mut statement, vec![Value::Text(id.to_owned())], &Field::ALL, &mut body)
            .expect("the query runs");
        out.extend_from_slice(&body);
        found == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_answers_like_the_reference() {
        let messages: Vec<Message> = crate::workload::data::DataGenerator::new(3000, 9).collect();
        let sqlite = SqliteEngine::new(&messages).unwrap();
        let requests = crate::workload::mix::generate(&messages, 3, 4);
        let reference = msgdex::ReferenceEngine::new(messages);
        for request in &requests {
            assert_eq!(sqlite.respond(&request.target), reference.respond(&request.target), "{}", request.target);
        }
    }
}
