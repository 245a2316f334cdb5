// Included first by every file of a pure C++ room (rules/, common/, the lock graph, batch sizing).
// Those rooms are built and unit-tested by CMake without PostgreSQL's headers; this header makes the
// build fail if one of them includes postgres.h anyway (the idea comes from pg_duckdb).
#pragma once
#ifdef POSTGRES_H
#error "a pure C++ file must not include postgres.h: move the PostgreSQL part to src/pg/ or src/guard/"
#endif
