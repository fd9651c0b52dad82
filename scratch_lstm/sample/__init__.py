"""The embedded MNIST sample (mnist_sample.npz); see scripts/make_mnist_sample.py."""
