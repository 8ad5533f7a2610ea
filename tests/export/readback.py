"""Reads an `adminstats export --format parquet` file with pyarrow, for the Rust test
`crates/adminstats/tests/export.rs`.

Prints one JSON object mapping each column to its Arrow type ("string" or "int64"), then every
row as the API's JSON item: int64 columns whose wire form is a string of digits (api.md's int64
convention) are printed as strings again, so that the Rust side can compare with the wire rows.
"""

import json
import sys

import pyarrow.parquet as pq

# api.md: these travel as strings of digits on the wire.
INT64_AS_STRING = {
    "email_send_count", "email_receive_count", "email_send_ext_count", "email_receive_ext_count",
    "email_send_in_count", "email_receive_in_count", "total_search_count", "quick_search_count",
    "tab_search_count",
}


def main(path):
    table = pq.read_table(path)
    print(json.dumps({f.name: str(f.type) for f in table.schema}))
    for row in table.to_pylist():
        out = {k: (str(v) if k in INT64_AS_STRING else v) for k, v in row.items()}
        print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
