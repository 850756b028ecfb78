/*
 * zonnx runtime API: status codes, tensor descriptors and the generic model
 * descriptor every generated model exports as `<name>_model`.
 *
 * Portable C99, no Zephyr dependency, no dynamic memory.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_ZONNX_H_
#define ZONNX_ZONNX_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes: ZONNX_OK or a negative error. */
enum zonnx_status {
	ZONNX_OK = 0,
	ZONNX_ERR_NULL = -1,      /**< a required pointer was NULL */
	ZONNX_ERR_COUNT = -2,     /**< wrong number of input or output buffers */
	ZONNX_ERR_SIZE = -3,      /**< a buffer's byte size does not match the tensor */
	ZONNX_ERR_INPUT = -4,     /**< input values rejected by the model's input checks */
	ZONNX_ERR_INTERNAL = -5,
	ZONNX_ERR_BACKEND = -6,   /**< an optimized library kernel (CMSIS-NN) refused the call */
};

/** Element types; values are ONNX TensorProto data types. */
enum zonnx_dtype {
	ZONNX_FLOAT32 = 1,
	ZONNX_UINT8 = 2,
	ZONNX_INT8 = 3,
	ZONNX_UINT16 = 4,
	ZONNX_INT16 = 5,
	ZONNX_INT32 = 6,
	ZONNX_INT64 = 7,
	ZONNX_BOOL = 9,
	ZONNX_FLOAT64 = 11,
	ZONNX_UINT32 = 12,
	ZONNX_UINT64 = 13,
};

/** A model input or output. Quantized tensors carry scale and zero point. */
struct zonnx_tensor_info {
	const char *name;
	enum zonnx_dtype dtype;
	uint8_t rank;
	const int32_t *shape;   /**< `rank` dimensions, NULL for scalars */
	size_t elements;
	size_t bytes;
	float scale;            /**< 0 when not quantized */
	int32_t zero_point;
};

/** Everything a generic harness needs to drive a generated model. */
struct zonnx_model {
	const char *name;
	uint16_t n_inputs;
	uint16_t n_outputs;
	const struct zonnx_tensor_info *inputs;
	const struct zonnx_tensor_info *outputs;
	size_t arena_size;      /**< bytes of static activation memory */
	size_t weights_size;    /**< bytes of constant data in flash */
	/** The typed `<name>_run` behind void pointers (no size checks). */
	int (*run)(const void *const *inputs, void *const *outputs);
	uint16_t n_nodes;
	const char *const *node_names;
	const char *const *node_ops;
};

/** A caller's buffer: data and its size in bytes. */
struct zonnx_buffer {
	void *data;
	size_t bytes;
};

/**
 * Run @p model after checking every buffer against the descriptor.
 *
 * @param model     generated descriptor (`<name>_model`)
 * @param inputs    @p n_inputs buffers, in model input order
 * @param n_inputs  must equal model->n_inputs
 * @param outputs   @p n_outputs buffers, in model output order
 * @param n_outputs must equal model->n_outputs
 * @return ZONNX_OK, ZONNX_ERR_NULL, ZONNX_ERR_COUNT or ZONNX_ERR_SIZE
 */
int zonnx_model_run(const struct zonnx_model *model,
		    const struct zonnx_buffer *inputs, size_t n_inputs,
		    const struct zonnx_buffer *outputs, size_t n_outputs);

/** Bytes per element of @p dtype, 0 for an unknown type. */
size_t zonnx_dtype_size(enum zonnx_dtype dtype);

/** Lower-case name of @p dtype ("float32"), "unknown" otherwise. */
const char *zonnx_dtype_name(enum zonnx_dtype dtype);

/** Human-readable text for a zonnx_status value. */
const char *zonnx_status_str(int status);

/*
 * Error reporting hook: with ZONNX_LOG defined (Zephyr builds), a port
 * provides zonnx_log_error(), called for every rejected zonnx_model_run().
 */
#ifdef ZONNX_LOG
void zonnx_log_error(const struct zonnx_model *model, int status, const char *what, size_t index);
#endif

/* Alignment of weight arrays and of the arena (bytes). */
#if defined(__GNUC__) || defined(__clang__)
#define ZONNX_ALIGNED(n) __attribute__((aligned(n)))
#else
#define ZONNX_ALIGNED(n)
#endif

/*
 * Generated kernels stay separate functions: footprint reports attribute code
 * per kernel, and one call per node costs nothing measurable.
 */
#if defined(__GNUC__) || defined(__clang__)
#define ZONNX_KERNEL __attribute__((noinline))
#else
#define ZONNX_KERNEL
#endif

/*
 * Placement of the static arena: 16-byte aligned by default; a Zephyr build
 * takes alignment and section from Kconfig; any build may define its own.
 */
#ifndef ZONNX_ARENA_ATTR
#if defined(CONFIG_ZONNX_ARENA_IN_SECTION)
#define ZONNX_ARENA_ATTR \
	__attribute__((section(CONFIG_ZONNX_ARENA_SECTION), aligned(CONFIG_ZONNX_ARENA_ALIGN)))
#elif defined(CONFIG_ZONNX_ARENA_ALIGN)
#define ZONNX_ARENA_ATTR ZONNX_ALIGNED(CONFIG_ZONNX_ARENA_ALIGN)
#else
#define ZONNX_ARENA_ATTR ZONNX_ALIGNED(16)
#endif
#endif

/*
 * Per-node profiling hooks. Generated code brackets every node with them;
 * they cost nothing unless ZONNX_PROFILE is defined, in which case the port
 * provides zonnx_profile_begin()/zonnx_profile_end().
 */
#ifdef ZONNX_PROFILE
uint64_t zonnx_profile_begin(void);
void zonnx_profile_end(const struct zonnx_model *model, uint16_t node, uint64_t start);
#define ZONNX_PROFILE_BEGIN(i) uint64_t zonnx_t_##i = zonnx_profile_begin()
#define ZONNX_PROFILE_END(m, i) zonnx_profile_end((m), (i), zonnx_t_##i)
#else
#define ZONNX_PROFILE_BEGIN(i) do { } while (0)
#define ZONNX_PROFILE_END(m, i) do { } while (0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* ZONNX_ZONNX_H_ */
