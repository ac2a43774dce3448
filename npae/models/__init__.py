"""npae's models: scikit-learn estimators with hand-written forward and backward passes."""

from npae.models.autoencoder import Autoencoder
from npae.models.base import MODEL_CLASSES, BaseAutoencoder, load

__all__ = ["Autoencoder", "BaseAutoencoder", "MODEL_CLASSES", "load"]
