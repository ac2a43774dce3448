"""npae's models: scikit-learn estimators with hand-written forward and backward passes."""

from npae.models.autoencoder import Autoencoder
from npae.models.base import MODEL_CLASSES, BaseAutoencoder, load
from npae.models.contractive import ContractiveAutoencoder
from npae.models.denoising import DenoisingAutoencoder
from npae.models.sparse import SparseAutoencoder
from npae.models.variational import VAE

__all__ = ["Autoencoder", "BaseAutoencoder", "ContractiveAutoencoder", "DenoisingAutoencoder", "MODEL_CLASSES",
           "SparseAutoencoder", "VAE", "load"]
