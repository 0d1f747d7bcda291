"""The peers of Kinfolk's duplicate detection, run on the records bench/dedupe_bench.py exports.

Runs in bench/.venv-peers (bench/setup_peers.sh), never in Kinfolk's environment:

    bench/.venv-peers/bin/python bench/dedupe_peers.py splink people.csv pairs.csv
    bench/.venv-peers/bin/python bench/dedupe_peers.py recordlinkage people.csv pairs.csv

Each tool gets the same fields (given name, family name, email, phone, postcode, street, city,
country) and blocking rules like Kinfolk's keys (same email; same phone and postcode; same name;
names swapped), is configured as its documentation suggests for deduplicating people, trains its
model on the data without labels, and writes the pairs it calls matches. The last line printed
is JSON with its timings.
"""

import csv
import json
import sys
import time

FIELDS = ["given_name", "family_name", "email", "phone", "postcode", "street", "city", "country"]


def read(path):
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for name in FIELDS:
        df[name] = df[name].str.strip().str.lower().replace("", None)
    df["unique_id"] = df["unique_id"].astype("int64")
    return df


def run_splink(df, out):
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.blocking_rule_library import CustomRule

    timings = {}
    started = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("given_name", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("family_name", [0.92, 0.8]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("email"),
            cl.ExactMatch("phone").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
            cl.ExactMatch("city"),
            cl.ExactMatch("country"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone", "postcode"),
            block_on("given_name", "family_name"),
            CustomRule("l.given_name = r.family_name and l.family_name = r.given_name"),
        ],
    )
    linker = Linker(df, settings, db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone", "postcode", "family_name")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "family_name"))
    timings["train_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=0.9).as_pandas_dataframe()
    timings["predict_s"] = round(time.perf_counter() - started, 1)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        for a, b, p in zip(
            predictions["unique_id_l"],
            predictions["unique_id_r"],
            predictions["match_probability"],
            strict=True,
        ):
            writer.writerow([a, b, "match probability >= 0.9"])
            if p >= 0.99:
                writer.writerow([a, b, "match probability >= 0.99"])
    return timings


def run_recordlinkage(df, out):
    import pandas as pd
    import recordlinkage

    timings = {}
    started = time.perf_counter()
    df = df.set_index("unique_id")
    pairs = None
    for columns in (["email"], ["phone", "postcode"], ["given_name", "family_name"]):
        subset = df.dropna(subset=columns)  # empty values must not block together
        index = recordlinkage.Index()
        index.block(columns)
        found = index.index(subset)
        pairs = found if pairs is None else pairs.union(found)
    swapped = df.dropna(subset=["given_name", "family_name"]).reset_index()
    joined = swapped.merge(
        swapped, left_on=["given_name", "family_name"], right_on=["family_name", "given_name"]
    )
    joined = joined[joined["unique_id_x"] < joined["unique_id_y"]]
    pairs = pairs.union(pd.MultiIndex.from_arrays([joined["unique_id_y"], joined["unique_id_x"]]))
    timings["index_s"] = round(time.perf_counter() - started, 1)
    timings["pairs"] = len(pairs)
    started = time.perf_counter()
    compare = recordlinkage.Compare(n_jobs=2)
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.88, label="given_name")
    compare.string("family_name", "family_name", method="jarowinkler", threshold=0.88, label="family_name")
    compare.exact("email", "email", label="email")
    compare.exact("phone", "phone", label="phone")
    compare.exact("postcode", "postcode", label="postcode")
    compare.exact("city", "city", label="city")
    compare.exact("country", "country", label="country")
    features = compare.compute(pairs, df)
    timings["compare_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    classifier = recordlinkage.ECMClassifier(binarize=0.5)
    matches = classifier.fit_predict(features)
    timings["classify_s"] = round(time.perf_counter() - started, 1)
    agreeing = features[features.sum(axis=1) >= 4].index  # the rule of recordlinkage's own tutorial
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        for a, b in matches:
            writer.writerow([a, b, "ECM classifier (unsupervised)"])
        for a, b in agreeing:
            writer.writerow([a, b, "4 or more of 7 fields agree"])
    return timings


def main():
    peer, records, out = sys.argv[1:4]
    started = time.perf_counter()
    df = read(records)
    info = {"read_s": round(time.perf_counter() - started, 1)}
    run = {"splink": run_splink, "recordlinkage": run_recordlinkage}[peer]
    info.update(run(df, out))
    info["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
