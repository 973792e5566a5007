# t/94-observability/tracing.t
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;

# Mock OpenTelemetry tracer
package MockSpan {
    sub new {
        my ($class, %args) = @_;
        return bless {
            name       => $args{name},
            attributes => $args{attributes},
            status     => undef,
            ended      => 0,
        }, $class;
    }

    sub set_status {
        my ($self, $status, $msg) = @_;
        $self->{status} = { code => $status, message => $msg };
    }

    sub record_exception {
        my ($self, $error) = @_;
        $self->{exception} = $error;
    }

    sub end {
        my ($self) = @_;
        $self->{ended} = 1;
    }
}

package MockTracer {
    sub new {
        my ($class) = @_;
        return bless { spans => [] }, $class;
    }

    sub create_span {
        my ($self, %args) = @_;
        my $span = MockSpan->new(%args);
        push @{$self->{spans}}, $span;
        return $span;
    }

    sub spans { @{shift->{spans}} }
    sub clear { shift->{spans} = [] }
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

    subtest 'tracer creates spans for commands' => sub {
        my $tracer = MockTracer->new;

        my $redis = Future::IO::Redis->new(
            host        => 'localhost',
            otel_tracer => $tracer,
        );
        $loop->await($redis->connect);
        $loop->await($redis->set('trace:key', 'value'));
        $loop->await($redis->get('trace:key'));
        $redis->disconnect;

        my @spans = $tracer->spans;
        ok(@spans >= 2, 'spans created for commands');

        # Find SET span
        my ($set_span) = grep { $_->{name} eq 'redis.SET' } @spans;
        ok($set_span, 'SET span created');
        is($set_span->{attributes}{'db.system'}, 'redis', 'db.system attribute');
        is($set_span->{attributes}{'db.operation'}, 'SET', 'db.operation attribute');
        like($set_span->{attributes}{'db.statement'}, qr/SET trace:key/, 'db.statement attribute');
        is($set_span->{attributes}{'net.peer.name'}, 'localhost', 'net.peer.name attribute');
        ok($set_span->{ended}, 'span ended');

        # Cleanup
        $loop->await($test_redis->del('trace:key'));
    };

    subtest 'span records error on command failure' => sub {
        my $tracer = MockTracer->new;

        my $redis = Future::IO::Redis->new(
            host        => 'localhost',
            otel_tracer => $tracer,
        );
        $loop->await($redis->connect);

        # Cause an error - INCR on string
        $loop->await($redis->set('trace:error', 'notanumber'));
        eval {
            $loop->await($redis->incr('trace:error'));
        };

        my @spans = $tracer->spans;
        my ($incr_span) = grep { $_->{name} eq 'redis.INCR' } @spans;
        ok($incr_span, 'INCR span created');
        is($incr_span->{status}{code}, 'error', 'span status is error');
        ok($incr_span->{exception}, 'exception recorded');

        $redis->disconnect;
        $loop->await($test_redis->del('trace:error'));
    };

    subtest 'AUTH password redacted in span' => sub {
        my $tracer = MockTracer->new;

        my $redis = Future::IO::Redis->new(
            host        => 'localhost',
            password    => 'secret123',
            otel_tracer => $tracer,
        );

        # Connect may fail AUTH, that's OK
        eval { $loop->await($redis->connect) };

        my @spans = $tracer->spans;
        my ($auth_span) = grep { $_->{name} eq 'redis.AUTH' } @spans;

        if ($auth_span) {
            unlike($auth_span->{attributes}{'db.statement'}, qr/secret123/,
                'password not in span');
            like($auth_span->{attributes}{'db.statement'}, qr/\[REDACTED\]/,
                'password redacted in span');
        }
    };

    subtest 'otel_include_args => 0 hides args' => sub {
        my $tracer = MockTracer->new;

        my $redis = Future::IO::Redis->new(
            host             => 'localhost',
            otel_tracer      => $tracer,
            otel_include_args => 0,
        );
        $loop->await($redis->connect);
        $loop->await($redis->set('trace:noargs', 'secretvalue'));
        $redis->disconnect;

        my @spans = $tracer->spans;
        my ($set_span) = grep { $_->{name} eq 'redis.SET' } @spans;
        is($set_span->{attributes}{'db.statement'}, 'SET', 'only command name, no args');

        $loop->await($test_redis->del('trace:noargs'));
    };
}

done_testing;
