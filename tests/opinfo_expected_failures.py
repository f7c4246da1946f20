"""Known failures of the OpInfo sweep: entry -> mode -> first error (strict xfails).

EXPECTED_FAILURES: the sampled run's (`python -m tests.opinfo_sweep --update-expected`).
EXPECTED_FAILURES_FULL: what only the full run (every dtype, up to 8 samples each) finds
beyond those (`python -m tests.opinfo_sweep --full --update-expected`). Each run rewrites
its own table; an entry that starts passing fails its test until it leaves the table.
"""

EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "_segment_reduce.lengths": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.segment_reduce (ATen operation aten.segment_reduce.default): out = self.op(inp",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.segment_reduce (ATen operation aten.segment_reduce.default): out = self.op(inp",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.segment_reduce (ATen operation aten.segment_reduce.default): out = self.op(inp",
    },
    "_segment_reduce.offsets": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.segment_reduce (ATen operation aten.segment_reduce.default): out = self.op(inp",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.segment_reduce (ATen operation aten.segment_reduce.default): out = self.op(inp",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.segment_reduce (ATen operation aten.segment_reduce.default): out = self.op(inp",
    },
    "_upsample_bilinear2d_aa": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.ops.aten._upsample_bilinear2d_aa (ATen operation aten._upsample_bilinear2d_aa.",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.ops.aten._upsample_bilinear2d_aa (ATen operation aten._upsample_bilinear2d_aa.",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.ops.aten._upsample_bilinear2d_aa (ATen operation aten._upsample_bilinear2d_aa.",
    },
    "as_strided_scatter": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 1 / 1 (100.0%) Greatest absolute difference: 1.0 at index (0,) (up to 1e-05 allowed)",
    },
    "grid_sampler_3d": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.grid_sampler_3d (ATen operation aten.grid_sampler_3d.default): out = self.op(i",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.grid_sampler_3d (ATen operation aten.grid_sampler_3d.default): out = self.op(i",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.grid_sampler_3d (ATen operation aten.grid_sampler_3d.default): out = self.op(i",
    },
    "hash_tensor": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.hash_tensor (ATen operation aten.hash_tensor.default): out = self.op(inp, *arg",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.hash_tensor (ATen operation aten.hash_tensor.default): out = self.op(inp, *arg",
    },
    "histogramdd": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.histogramdd (ATen operation aten._histogramdd_bin_edges.default): out = self.o",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.histogramdd (ATen operation aten._histogramdd_bin_edges.default): out = self.o",
    },
    "linalg.ldl_factor": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.linalg.ldl_factor (ATen operation aten.linalg_ldl_factor_ex.default): out = se",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.linalg.ldl_factor (ATen operation aten.linalg_ldl_factor_ex.default): out = se",
    },
    "linalg.ldl_factor_ex": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.linalg.ldl_factor_ex (ATen operation aten.linalg_ldl_factor_ex.default): out =",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.linalg.ldl_factor_ex (ATen operation aten.linalg_ldl_factor_ex.default): out =",
    },
    "linalg.ldl_solve": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.linalg.ldl_solve (ATen operation aten.linalg_ldl_solve.default): out = self.op",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.linalg.ldl_solve (ATen operation aten.linalg_ldl_solve.default): out = self.op",
    },
    "linalg.pinv.hermitian": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 25 / 25 (100.0%) Greatest absolute difference: 14.877859115600586 at index (1, 3) (up to 1e-05 ",
    },
    "logcumsumexp": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 25 / 125 (20.0%) Greatest absolute difference: 0.0003147125244140625 at index (0, 0, 0) (up to ",
    },
    "matrix_exp": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 24 / 25 (96.0%) Greatest absolute difference: 0.00750732421875 at index (4, 4) (up to 1e-05 all",
    },
    "nn.functional.conv_transpose3d": {
        "eager": "AssertionError: Tensor-likes are not close! Mismatched elements: 1 / 648 (0.2%) Greatest absolute difference: 2.384185791015625e-05 at index (0, 1, 4, 4, 0) (up",
        "jit": "AssertionError: Tensor-likes are not close! Mismatched elements: 1 / 648 (0.2%) Greatest absolute difference: 2.384185791015625e-05 at index (0, 1, 4, 4, 0) (up",
    },
    "nn.functional.ctc_loss": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.ctc_loss (ATen operation aten._ctc_loss.default): out = self.op(",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.ctc_loss (ATen operation aten._ctc_loss.default): out = self.op(",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.ctc_loss (ATen operation aten._ctc_loss.default): out = self.op(",
    },
    "nn.functional.embedding_bag": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.embedding_bag (ATen operation aten._embedding_bag_forward_only.d",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.embedding_bag (ATen operation aten._embedding_bag_forward_only.d",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.embedding_bag (ATen operation aten._embedding_bag_forward_only.d",
    },
    "nn.functional.fractional_max_pool2d": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.fractional_max_pool2d (ATen operation aten.fractional_max_pool2d",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.fractional_max_pool2d (ATen operation aten.fractional_max_pool2d",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.fractional_max_pool2d (ATen operation aten.fractional_max_pool2d",
    },
    "nn.functional.fractional_max_pool3d": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.fractional_max_pool3d (ATen operation aten.fractional_max_pool3d",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.fractional_max_pool3d (ATen operation aten.fractional_max_pool3d",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.fractional_max_pool3d (ATen operation aten.fractional_max_pool3d",
    },
    "nn.functional.linear_cross_entropy.chunked": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.linear_cross_entropy (ATen operation torch_nn._linear_cross_entr",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.linear_cross_entropy (ATen operation torch_nn._linear_cross_entr",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.linear_cross_entropy (ATen operation torch_nn._linear_cross_entr",
    },
    "nn.functional.linear_cross_entropy.chunked_none": {
        "eager": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.linear_cross_entropy (ATen operation torch_nn._linear_cross_entr",
        "jit": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.linear_cross_entropy (ATen operation torch_nn._linear_cross_entr",
        "grad": "UnsupportedOperationError: torch2jax does not support the PyTorch operation torch.nn.functional.linear_cross_entropy (ATen operation torch_nn._linear_cross_entr",
    },
    "nn.functional.multi_head_attention_forward": {
        "eager": "MissingRNGError: torch2jax: torch.nn.functional.multi_head_attention_forward (aten.bernoulli) draws random numbers, but no JAX PRNG key was given: out = self.op",
        "jit": "MissingRNGError: torch2jax: torch.nn.functional.multi_head_attention_forward (aten.bernoulli) draws random numbers, but no JAX PRNG key was given: out = self.op",
        "grad": "MissingRNGError: torch2jax: torch.nn.functional.multi_head_attention_forward (aten.bernoulli) draws random numbers, but no JAX PRNG key was given: out = self.op",
    },
    "nn.functional.one_hot": {
        "jit": "ConcretizationError: torch2jax: torch.nn.functional.one_hot reads a tensor's value into Python, but the tensor is traced by a JAX transformation (jit/grad/vmap)",
        "x64_off": "RuntimeError: one_hot is only applicable to index tensor of type LongTensor.",
    },
    "tensor_split": {
        "eager": "RuntimeError: The tensor has a non-zero number of elements, but its data is not allocated yet. If you're using torch.compile/export/fx, it is likely that we are",
        "jit": "RuntimeError: The tensor has a non-zero number of elements, but its data is not allocated yet. If you're using torch.compile/export/fx, it is likely that we are",
        "grad": "RuntimeError: The tensor has a non-zero number of elements, but its data is not allocated yet. If you're using torch.compile/export/fx, it is likely that we are",
    },
    "torch.ops.aten._scaled_dot_product_flash_attention_for_cpu": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 3 / 384 (0.8%) Greatest absolute difference: 2.956390380859375e-05 at index (0, 1, 1, 4) (up to",
    },
}

EXPECTED_FAILURES_FULL: dict[str, dict[str, str]] = {
    "addbmm": {
        "eager": "AssertionError: Tensor-likes are not close! Mismatched elements: 1 / 50 (2.0%) Greatest absolute difference: 1.239776611328125e-05 at index (3, 0) (up to 1e-05 ",
        "jit": "AssertionError: Tensor-likes are not close! Mismatched elements: 1 / 50 (2.0%) Greatest absolute difference: 1.239776611328125e-05 at index (3, 0) (up to 1e-05 ",
    },
    "as_strided.partial_views": {
        "eager": "RuntimeError: setStorage: sizes [2, 2], strides [1, 2], storage offset 10, and itemsize 4 requiring a storage size of 56 are out of bounds for storage of size 4",
        "jit": "RuntimeError: setStorage: sizes [2, 2], strides [1, 2], storage offset 10, and itemsize 4 requiring a storage size of 56 are out of bounds for storage of size 4",
        "grad": "RuntimeError: setStorage: sizes [2, 2], strides [1, 2], storage offset 10, and itemsize 4 requiring a storage size of 56 are out of bounds for storage of size 4",
        "x64_off": "RuntimeError: setStorage: sizes [2, 2], strides [1, 2], storage offset 10, and itemsize 8 requiring a storage size of 112 are out of bounds for storage of size ",
    },
    "cholesky_inverse": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 10 / 25 (40.0%) Greatest absolute difference: 1.998720645904541 at index (0, 1) (up to 1e-05 al",
    },
    "cholesky_solve": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 10 / 25 (40.0%) Greatest absolute difference: 29.874256134033203 at index (0, 1) (up to 1e-05 a",
    },
    "corrcoef": {
        "x64_off": "ConcretizationError: torch2jax: torch.equal (aten.equal) reads a tensor's value into Python, but the tensor is traced by a JAX transformation (jit/grad/vmap) an",
    },
    "cov": {
        "grad": "AssertionError: Tensor-likes are not close! Mismatched elements: 1 / 2 (50.0%) Greatest absolute difference: 1.52587890625e-05 at index (0,) (up to 1e-05 allowe",
        "x64_off": "ConcretizationError: torch2jax: torch.equal (aten.equal) reads a tensor's value into Python, but the tensor is traced by a JAX transformation (jit/grad/vmap) an",
    },
}
