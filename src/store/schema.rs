//! Django's names for schema objects, so a table tessera creates is the one Django's own
//! migration would create (same index names), whatever the table is called.

use md5::{Digest, Md5};

/// Django's `BaseDatabaseSchemaEditor._create_index_name(table, [column], suffix)`:
/// `<table>_<column>_<md5(table ‖ column)[:8]><suffix>`, shortened as Django shortens it when
/// longer than the backend's `max_name_length`. MD5 here is a name digest, nothing secret.
pub fn django_index_name(table: &str, column: &str, suffix: &str, max_len: usize) -> String {
    let digest = Md5::new_with_prefix(table).chain_update(column).finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut hash_suffix = format!("{}{suffix}", &hex[..8]);
    let name = format!("{table}_{column}_{hash_suffix}");
    if name.len() <= max_len {
        return name;
    }
    if hash_suffix.len() > max_len / 3 {
        hash_suffix.truncate(max_len / 3);
    }
    let other = (max_len - hash_suffix.len()) / 2 - 1;
    let name = format!(
        "{}_{}_{hash_suffix}",
        &table[..other.min(table.len())],
        &column[..other.min(column.len())]
    );
    if name.starts_with('_') || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("D{}", &name[..name.len() - 1])
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_django_migration_names() {
        assert_eq!(
            django_index_name("django_session", "expire_date", "", 200),
            "django_session_expire_date_a5c62663"
        );
        assert_eq!(
            django_index_name("django_session", "session_key", "_like", 63),
            "django_session_session_key_c0390e0f_like"
        );
    }
}
