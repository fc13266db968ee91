//! eksscale's end-to-end tests, one test binary (one link of the AWS SDK
//! instead of one per file): the CLI against the AWS emulator
//! (tests/emulator) and the fake Kubernetes API server (tests/fakekube) that
//! `scripts/test.sh` starts, read back with independent clients.

mod common;

mod bad_configs;
mod cli;
mod eks;
mod fleet;
mod interrupt;
mod keda;
mod kube_lifecycle;
mod network;
mod ownership;
mod real_aws;
mod samples;
mod teardown;
mod user_path;
