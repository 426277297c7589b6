package inbox

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"shop/service/tracing"
)

// messageSpans are the consumer spans of the messages of one transaction:
// each continues the trace of its message's traceparent (the producer's
// span, through the outbox row and the Event Router's header) and ends once
// the transaction has committed or failed, so that a span's end means its
// effect is durable or undone. Not safe for concurrent use: each
// transaction has its own.
type messageSpans []trace.Span

// start starts the span of msg, consumed by group, and returns ctx with it:
// the context in which msg is applied, so that its logs carry the span and
// an event it causes carries its traceparent (tracing.Traceparent).
func (s *messageSpans) start(ctx context.Context, group string, msg Message) context.Context {
	ctx, span := tracing.StartConsumer(ctx, msg.Traceparent, "process "+msg.Topic,
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", msg.Topic),
			attribute.String("messaging.destination.partition.id", strconv.Itoa(int(msg.Partition))),
			attribute.Int64("messaging.kafka.offset", msg.Offset),
			attribute.String("messaging.consumer.group.name", group),
			attribute.String("messaging.message.id", msg.EventID.String()),
			attribute.String("shop.event_type", msg.Type),
		))
	*s = append(*s, span)
	return ctx
}

// end ends every span, as failed when the transaction failed (err not nil):
// the message will be applied again, under a new span.
func (s messageSpans) end(err error) {
	for _, span := range s {
		if err != nil {
			span.SetStatus(codes.Error, "transaction rolled back: "+err.Error())
		}
		span.End()
	}
}

// endNotPipelined ends every span of a pipelined attempt that was rolled
// back because the batch needed the message-by-message path
// (ErrNotPipelined): not a failure; each message is applied again under a
// new span.
func (s messageSpans) endNotPipelined() {
	for _, span := range s {
		span.SetAttributes(attribute.Bool("shop.pipeline_fallback", true))
		span.End()
	}
}

// deadLetteredSpan marks the span in ctx, if any, as the span of a message
// dead-lettered for cause.
func deadLetteredSpan(ctx context.Context, cause error) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.Bool("shop.dead_lettered", true))
	span.SetStatus(codes.Error, "dead-lettered: "+sanitizeText(cause.Error()))
}
