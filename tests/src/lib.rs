//! Test support: a fresh database per test, the app spawned on loopback against fakes of every
//! external service, and the fakes themselves.

pub mod app;
pub mod database;
pub mod db_proxy;
pub mod demo;
pub mod events;
pub mod fakes;
pub mod moto;
pub mod mp3;
pub mod round_trips;

pub use app::{spawn_app, TestApp, TestAppBuilder};
