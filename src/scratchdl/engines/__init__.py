"""The fast engines: faster twins of the book's pieces (convolution, pooling, im2col, sigmoid,
Adam, the numerical gradient), each proven equal by tests. Imports only the book and the runtime.
"""
