//! AI vendors: implementations of the core's `VendorPort`.

pub mod custom_endpoint;
pub mod custom_endpoint_response;
pub mod function;
pub mod function_response;
pub mod scripted;
