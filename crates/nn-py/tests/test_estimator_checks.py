"""scikit-learn's estimator checks, every one of them, on both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from nnrs import MLPClassifier, MLPRegressor

# Checks that fail on purpose, with the reason (also listed in the README). Empty: all pass.
EXPECTED_FAILED_CHECKS = {}


def expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(
    [MLPClassifier(), MLPRegressor()], expected_failed_checks=expected_failed_checks
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
