# t/94-observability/metrics.t
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;

# Mock OpenTelemetry meter
package MockCounter {
    sub new {
        my ($class, %args) = @_;
        return bless {
            name  => $args{name},
            value => 0,
            calls => [],
        }, $class;
    }

    sub add {
        my ($self, $value, $labels) = @_;
        $self->{value} += $value;
        push @{$self->{calls}}, { value => $value, labels => $labels };
    }

    sub value { shift->{value} }
    sub calls { @{shift->{calls}} }
}

package MockHistogram {
    sub new {
        my ($class, %args) = @_;
        return bless {
            name    => $args{name},
            values  => [],
        }, $class;
    }

    sub record {
        my ($self, $value, $labels) = @_;
        push @{$self->{values}}, { value => $value, labels => $labels };
    }

    sub values { @{shift->{values}} }
    sub count  { scalar @{shift->{values}} }
}

package MockMeter {
    sub new {
        my ($class) = @_;
        return bless {
            counters   => {},
            histograms => {},
        }, $class;
    }

    sub create_counter {
        my ($self, %args) = @_;
        my $counter = MockCounter->new(%args);
        $self->{counters}{$args{name}} = $counter;
        return $counter;
    }

    sub create_histogram {
        my ($self, %args) = @_;
        my $histogram = MockHistogram->new(%args);
        $self->{histograms}{$args{name}} = $histogram;
        return $histogram;
    }

    sub create_up_down_counter {
        my ($self, %args) = @_;
        return $self->create_counter(%args);
    }

    sub counter    { shift->{counters}{shift()} }
    sub histogram  { shift->{histograms}{shift()} }
}

package main;

use Future::IO::Redis;

my $loop = IO::Async::Loop->new;

SKIP: {
    my $test_redis = eval {
        my $r = Future::IO::Redis->new(host => 'localhost', connect_timeout => 2);
        $loop->await($r->connect);
        $r;
    };
    skip "Redis not available: $@", 1 unless $test_redis;
    $test_redis->disconnect;

    subtest 'meter records command counts' => sub {
        my $meter = MockMeter->new;

        my $redis = Future::IO::Redis->new(
            host       => 'localhost',
            otel_meter => $meter,
        );
        $loop->await($redis->connect);

        # Execute some commands
        for (1..5) {
            $loop->await($redis->set("metrics:key:$_", "value$_"));
        }
        for (1..3) {
            $loop->await($redis->get("metrics:key:$_"));
        }

        $redis->disconnect;

        my $commands_counter = $meter->counter('redis.commands.total');
        ok($commands_counter, 'commands counter created');
        ok($commands_counter->value >= 8, 'commands counted');

        my @calls = $commands_counter->calls;
        my @set_calls = grep { $_->{labels}{command} eq 'SET' } @calls;
        my @get_calls = grep { $_->{labels}{command} eq 'GET' } @calls;

        is(scalar @set_calls, 5, '5 SET commands recorded');
        is(scalar @get_calls, 3, '3 GET commands recorded');

        # Cleanup
        $loop->await($test_redis->del(map { "metrics:key:$_" } 1..5));
    };

    subtest 'meter records command latency' => sub {
        my $meter = MockMeter->new;

        my $redis = Future::IO::Redis->new(
            host       => 'localhost',
            otel_meter => $meter,
        );
        $loop->await($redis->connect);
        $loop->await($redis->ping);
        $redis->disconnect;

        my $histogram = $meter->histogram('redis.commands.duration');
        ok($histogram, 'duration histogram created');
        ok($histogram->count >= 1, 'latency recorded');

        my @values = $histogram->values;
        for my $v (@values) {
            ok($v->{value} >= 0, "latency >= 0 ($v->{value}ms)");
            ok($v->{value} < 1000, "latency < 1s ($v->{value}ms)");
        }
    };

    subtest 'meter records connection count' => sub {
        my $meter = MockMeter->new;

        my $redis = Future::IO::Redis->new(
            host       => 'localhost',
            otel_meter => $meter,
        );
        $loop->await($redis->connect);

        my $connections = $meter->counter('redis.connections.active');
        ok($connections, 'connections counter created');
        is($connections->value, 1, 'connection recorded');

        $redis->disconnect;

        is($connections->value, 0, 'disconnection recorded');
    };

    subtest 'meter records errors' => sub {
        my $meter = MockMeter->new;

        my $redis = Future::IO::Redis->new(
            host       => 'localhost',
            otel_meter => $meter,
        );
        $loop->await($redis->connect);

        # Cause an error
        $loop->await($redis->set('metrics:error', 'string'));
        eval { $loop->await($redis->incr('metrics:error')) };

        $redis->disconnect;

        my $errors = $meter->counter('redis.errors.total');
        ok($errors, 'errors counter created');
        ok($errors->value >= 1, 'error recorded');

        $loop->await($test_redis->del('metrics:error'));
    };

    subtest 'meter records pipeline size' => sub {
        my $meter = MockMeter->new;

        my $redis = Future::IO::Redis->new(
            host       => 'localhost',
            otel_meter => $meter,
        );
        $loop->await($redis->connect);

        my $pipe = $redis->pipeline;
        $pipe->set('metrics:pipe:1', '1');
        $pipe->set('metrics:pipe:2', '2');
        $pipe->set('metrics:pipe:3', '3');
        $loop->await($pipe->execute);

        $redis->disconnect;

        my $pipeline_hist = $meter->histogram('redis.pipeline.size');
        ok($pipeline_hist, 'pipeline histogram created');

        my @values = $pipeline_hist->values;
        ok(@values >= 1, 'pipeline size recorded');
        is($values[0]{value}, 3, 'pipeline size is 3');

        $loop->await($test_redis->del('metrics:pipe:1', 'metrics:pipe:2', 'metrics:pipe:3'));
    };
}

done_testing;
