//! The library's store tests, each against a real server (one test binary).

#[path = "../common/mod.rs"]
mod common;

mod auth_users;
mod django_live;
mod django_web_live;
mod faults;
mod store_file;
mod store_mysql;
mod store_mysql_tls;
mod store_postgres;
mod store_redis;
mod store_redis_tls;
mod store_signed_cookie;
mod store_sqlite;
mod two_instances;
