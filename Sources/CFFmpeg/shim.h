#ifndef CFFMPEG_SHIM_H
#define CFFMPEG_SHIM_H
/* FFmpeg 5.1 (libavformat, libavcodec, libavutil, libswscale, libswresample): demuxing,
 * decoding, scaling, resampling and encoding, all in-process inside a worker. */
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
#include <libavutil/time.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>

/* AVERROR(e), AVERROR_EOF and AV_NOPTS_VALUE are macros Swift cannot import. */
static inline int cffmpeg_error_again(void) { return AVERROR(EAGAIN); }
static inline int cffmpeg_error_eof(void) { return AVERROR_EOF; }
static inline int cffmpeg_error_enomem(void) { return AVERROR(ENOMEM); }
static inline int cffmpeg_error_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int cffmpeg_error_exit(void) { return AVERROR_EXIT; }
static inline int64_t cffmpeg_nopts(void) { return AV_NOPTS_VALUE; }
static inline AVRational cffmpeg_time_base_q(void) { return AV_TIME_BASE_Q; }

/* av_strerror into a caller's buffer (av_err2str is a macro over a compound literal). */
static inline void cffmpeg_strerror(int code, char *buffer, size_t size) {
    if (av_strerror(code, buffer, size) < 0) snprintf(buffer, size, "FFmpeg error %d", code);
}

/* An interrupt callback that stops blocking libavformat calls once the monotonic clock
 * (av_gettime_relative, microseconds) passes *deadline; 0 means no deadline. */
static int cffmpeg_past_deadline(void *opaque) {
    const int64_t *deadline = (const int64_t *)opaque;
    return *deadline > 0 && av_gettime_relative() > *deadline;
}
static inline void cffmpeg_set_deadline_callback(AVFormatContext *context, int64_t *deadline) {
    context->interrupt_callback.callback = cffmpeg_past_deadline;
    context->interrupt_callback.opaque = deadline;
}

/* AVFrame's data/linesize and AVStream's disposition flags are arrays/macros: plain accessors. */
static inline uint8_t *cffmpeg_frame_data(const AVFrame *frame, int plane) { return frame->data[plane]; }
static inline int cffmpeg_frame_linesize(const AVFrame *frame, int plane) { return frame->linesize[plane]; }
static inline const uint8_t *cffmpeg_frame_const_data(const AVFrame *frame, int plane) { return frame->data[plane]; }

/* The display matrix of a stream (rotation; NULL when it has none). */
static inline const int32_t *cffmpeg_stream_display_matrix(AVStream *stream) {
    size_t size = 0;
    const uint8_t *data = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
    return size >= 9 * sizeof(int32_t) ? (const int32_t *)data : NULL;
}

/* av_log's default callback writes to stderr; a worker keeps only fatal messages. */
static inline void cffmpeg_quiet_logging(void) { av_log_set_level(AV_LOG_FATAL); }

/* Frame-level decode flags. */
static inline int cffmpeg_frame_is_key(const AVFrame *frame) { return frame->key_frame != 0; }
static inline int cffmpeg_packet_is_key(const AVPacket *packet) { return (packet->flags & AV_PKT_FLAG_KEY) != 0; }
#endif
