"""Train the iris classifier and save it (run once, when the image is built).

The iris data set ships inside scikit-learn, so nothing is downloaded.
"""

import json
import os
import pickle
import sys

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

MODEL_PATH = os.environ.get("DEMO_MODEL_PATH", "/opt/oscar-iac-demo-model/model.pkl")


def main() -> None:
    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=0.3, random_state=0, stratify=iris.target
    )
    clf = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    accuracy = float(clf.score(x_test, y_test))
    os.makedirs(os.path.dirname(MODEL_PATH), exist_ok=True)
    with open(MODEL_PATH, "wb") as fh:
        pickle.dump(
            {
                "model": clf,
                "classes": [str(c) for c in iris.target_names],
                "features": list(iris.feature_names),
                "test_accuracy": accuracy,
            },
            fh,
        )
    json.dump({"model": MODEL_PATH, "test_accuracy": accuracy}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
