//! Parameters that know their Postgres type, for `query_typed`.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

/// A value with a fixed Postgres type.
pub trait SqlTyped {
    const SQL_TYPE: Type;
}

/// What the query helpers accept: any [`SqlTyped`] value, as a trait object.
pub trait SqlParam: ToSql + Sync {
    fn sql_type(&self) -> Type;
}

impl<T: SqlTyped + ToSql + Sync> SqlParam for T {
    fn sql_type(&self) -> Type {
        T::SQL_TYPE
    }
}

macro_rules! sql_typed {
    ($($rust:ty => $pg:ident),* $(,)?) => {
        $(impl SqlTyped for $rust { const SQL_TYPE: Type = Type::$pg; })*
    };
}

sql_typed! {
    String => TEXT,
    str => TEXT,
    bool => BOOL,
    i32 => INT4,
    i64 => INT8,
    f64 => FLOAT8,
    Uuid => UUID,
    DateTime<Utc> => TIMESTAMPTZ,
    NaiveDate => DATE,
    serde_json::Value => JSONB,
    Vec<String> => TEXT_ARRAY,
    [String] => TEXT_ARRAY,
    Vec<NaiveDate> => DATE_ARRAY,
    Vec<Uuid> => UUID_ARRAY,
    Vec<u8> => BYTEA,
    Vec<i32> => INT4_ARRAY,
    Vec<i64> => INT8_ARRAY,
    Vec<bool> => BOOL_ARRAY,
    Vec<Option<String>> => TEXT_ARRAY,
    Vec<Option<i32>> => INT4_ARRAY,
    Vec<DateTime<Utc>> => TIMESTAMPTZ_ARRAY,
}

impl<T: SqlTyped> SqlTyped for Option<T> {
    const SQL_TYPE: Type = T::SQL_TYPE;
}

impl<T: SqlTyped + ?Sized> SqlTyped for &T {
    const SQL_TYPE: Type = T::SQL_TYPE;
}
