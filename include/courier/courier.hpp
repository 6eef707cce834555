// courier/courier.hpp — the umbrella header: every public courier concept.
//
// Include the one-concept headers directly to keep compile times down; this
// one is for programs that use most of them.
#pragma once

#include <courier/admin.hpp>
#include <courier/codec.hpp>
#include <courier/consumer.hpp>
#include <courier/context.hpp>
#include <courier/delivery.hpp>
#include <courier/errors.hpp>
#include <courier/lock.hpp>
#include <courier/options.hpp>
#include <courier/pipeline.hpp>
#include <courier/producer.hpp>
#include <courier/request.hpp>
#include <courier/security.hpp>
#include <courier/shard_map.hpp>
#include <courier/shard_source.hpp>
