//! botvisor's fuzz targets; see `bodies`.

pub mod bodies;
