"""Models and data for the evaluation tests: the breast cancer data, split once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="session")
def cancer():
    """(train frame, eval frame with a derived 'size' column, feature names)."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.assign(target=y.to_numpy())
    train, test = train_test_split(frame, test_size=0.4, random_state=0, stratify=frame["target"])
    test = test.assign(size=pd.cut(test["mean radius"], [0, 12, 15, np.inf], labels=["small", "medium", "large"])
                       .astype(str))
    return train, test, list(X.columns)


@pytest.fixture(scope="session")
def forest(cancer):
    train, _, features = cancer
    return RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1).fit(train[features], train["target"])


@pytest.fixture(scope="session")
def logistic(cancer):
    train, _, features = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return model.fit(train[features], train["target"])
