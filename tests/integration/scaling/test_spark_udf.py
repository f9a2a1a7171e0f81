"""The Spark path needs no code of ours: ``mlflow.pyfunc.spark_udf`` scores a registered version (the
README's example, run as written). pyspark is a 456 MB package that needs a JRE, so this project does not
depend on it: the test skips where it is not installed."""

from __future__ import annotations

import shutil

import pytest


@pytest.mark.slow
def test_spark_udf_scores_a_registered_version_like_the_pipeline(request, corpus_slice) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark; it needs a JRE)")
    if shutil.which("java") is None:
        pytest.skip("pyspark is installed but no java runtime is on PATH")
    in_workspace = request.getfixturevalue("in_workspace")  # trains only once pyspark is known to be there
    import mlflow.pyfunc
    from pyspark.sql import SparkSession

    from sentiment_mlops.registry.loading import load_local

    texts = list(corpus_slice[0][:200])
    spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    try:
        frame = spark.createDataFrame([(t,) for t in texts], ["text"])
        predict = mlflow.pyfunc.spark_udf(spark, "models:/SentimentAnalysisModel/1", result_type="string")
        labels = [row.sentiment for row in frame.withColumn("sentiment", predict("text")).collect()]
    finally:
        spark.stop()
    assert labels == [str(label) for label in load_local(in_workspace.models_dir).pipeline.predict(texts)]
