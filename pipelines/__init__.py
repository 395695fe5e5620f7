"""kftune's Kubeflow Pipelines pipelines (installed as ``kftune_kfp.pipelines``); they need ``kfp``."""
