"""The DEEPaaS V2 API of the demo model, as module-level functions.

predict(files=<CSV or JSON file>) reads rows of the four iris measurements
(sepal length, sepal width, petal length, petal width, in cm) and returns one
prediction per row: the species and, with probabilities=true, each class's probability.
Accepted inputs: CSV (an optional header line), a JSON list of rows, or a JSON
object {"rows": [...]}.
"""

import csv
import io
import json
import os
import pickle
from functools import lru_cache

from webargs import fields

MODEL_PATH = os.environ.get("DEMO_MODEL_PATH", "/opt/oscar-iac-demo-model/model.pkl")


@lru_cache(maxsize=1)
def _load():
    with open(MODEL_PATH, "rb") as fh:
        return pickle.load(fh)


def get_metadata():
    trained = _load()
    return {
        "name": "oscar-iac-demo-model",
        "description": "Iris species from four flower measurements (scikit-learn logistic regression).",
        "features": trained["features"],
        "classes": trained["classes"],
        "test_accuracy": trained["test_accuracy"],
    }


def get_train_args():
    return {}


def get_predict_args():
    return {
        "files": fields.Field(
            required=True,
            metadata={
                "type": "file",
                "location": "form",
                "description": "CSV or JSON rows of 4 measurements (cm)",
            },
        ),
        "probabilities": fields.Bool(
            required=False,
            load_default=False,
            metadata={"description": "Also return each class's probability"},
        ),
    }


def _rows(text):
    text = text.strip()
    if text[:1] in "[{":
        data = json.loads(text)
        rows = data["rows"] if isinstance(data, dict) else data
    else:
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
        try:
            float(rows[0][0])
        except (ValueError, IndexError):
            rows = rows[1:]  # a header line
    values = [[float(v) for v in row] for row in rows]
    if not values or any(len(r) != 4 for r in values):
        raise ValueError(
            "expected rows of 4 numbers: sepal length, sepal width, petal length, petal width"
        )
    return values


def predict(**kwargs):
    upload = kwargs["files"]
    path = getattr(upload, "filename", upload)
    with open(path, encoding="utf-8") as fh:
        rows = _rows(fh.read())
    trained = _load()
    clf, classes = trained["model"], trained["classes"]
    out = []
    for row, label, probs in zip(rows, clf.predict(rows), clf.predict_proba(rows), strict=True):
        item = {"input": row, "species": classes[int(label)]}
        if kwargs.get("probabilities"):
            item["probabilities"] = {
                c: round(float(p), 4) for c, p in zip(classes, probs, strict=True)
            }
        out.append(item)
    return {"model": "oscar-iac-demo-model", "predictions": out}
