# Runs before any application code in the frozen app. litellm fetches its model cost map from the
# internet at import unless this is set; cli.main sets it too, but a frozen process must never
# depend on the import order staying right.
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
