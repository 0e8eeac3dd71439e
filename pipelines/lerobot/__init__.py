"""LeRobot dataset I/O: a fast v3.0 writer, a v2.x/v3.0 reader (GR00T flavour included), GR00T export."""
