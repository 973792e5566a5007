# t/94-observability/debug.t
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
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

    subtest 'debug => 1 logs to STDERR' => sub {
        my @warnings;
        local $SIG{__WARN__} = sub { push @warnings, shift };

        my $redis = Future::IO::Redis->new(
            host  => 'localhost',
            debug => 1,
        );
        $loop->await($redis->connect);
        $loop->await($redis->ping);
        $redis->disconnect;

        ok(@warnings > 0, 'warnings captured');
        ok((grep { /REDIS/ } @warnings), 'logs contain REDIS prefix');
        ok((grep { /PING/ } @warnings), 'logs contain PING command');
    };

    subtest 'debug => sub logs to custom logger' => sub {
        my @logs;

        my $redis = Future::IO::Redis->new(
            host  => 'localhost',
            debug => sub {
                my ($direction, $data) = @_;
                push @logs, { direction => $direction, data => $data };
            },
        );
        $loop->await($redis->connect);
        $loop->await($redis->set('debug:key', 'value'));
        $loop->await($redis->get('debug:key'));
        $redis->disconnect;

        ok(@logs > 0, 'custom logger called');

        my @sends = grep { $_->{direction} eq 'send' } @logs;
        my @recvs = grep { $_->{direction} eq 'recv' } @logs;

        ok(@sends > 0, 'send logs captured');
        ok(@recvs > 0, 'recv logs captured');

        ok((grep { $_->{data} =~ /SET debug:key/ } @sends), 'SET logged');
        ok((grep { $_->{data} =~ /GET debug:key/ } @sends), 'GET logged');
    };

    subtest 'debug logs redact AUTH' => sub {
        my @logs;

        my $redis = Future::IO::Redis->new(
            host     => 'localhost',
            password => 'testpass',  # Will send AUTH
            debug    => sub {
                my ($direction, $data) = @_;
                push @logs, $data;
            },
        );

        # Connect will try AUTH (may fail, that's OK)
        eval { $loop->await($redis->connect) };

        # Check that password was redacted
        my @auth_logs = grep { /AUTH/ } @logs;
        ok(@auth_logs > 0, 'AUTH command logged');

        for my $log (@auth_logs) {
            unlike($log, qr/testpass/, 'password not in log');
            like($log, qr/\[REDACTED\]/, 'password redacted');
        }
    };

    subtest 'debug disabled by default' => sub {
        my @warnings;
        local $SIG{__WARN__} = sub { push @warnings, shift };

        my $redis = Future::IO::Redis->new(host => 'localhost');
        $loop->await($redis->connect);
        $loop->await($redis->ping);
        $redis->disconnect;

        my @redis_warnings = grep { /REDIS/ } @warnings;
        is(scalar @redis_warnings, 0, 'no Redis debug logs by default');
    };

    subtest 'response values not logged' => sub {
        my @logs;

        my $redis = Future::IO::Redis->new(
            host  => 'localhost',
            debug => sub { push @logs, $_[1] },
        );
        $loop->await($redis->connect);
        $loop->await($redis->set('debug:secret', 'supersecretvalue'));
        $loop->await($redis->get('debug:secret'));
        $redis->disconnect;

        # Value should not appear in logs
        for my $log (@logs) {
            unlike($log, qr/supersecretvalue/, 'secret value not in log');
        }

        # Cleanup
        $loop->await($test_redis->del('debug:secret'));
    };
}

done_testing;
