# TLS: the right CA and host name connect; a wrong CA or a wrong name fail.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('tls');
my %at   = ( host => $srv->{host}, port => $srv->{port}, connect_timeout => 5 );

sub outcome {
    my ($redis) = @_;
    my $f = $redis->connect;
    $loop->await($f);
    return $f;
}

subtest 'right CA and host name' => sub {
    my $redis = Future::IO::Redis->new( %at, tls => { ca_file => $srv->{ca_file} } );
    is( outcome($redis)->get->ping->get, 'PONG', 'connected over TLS' );
    ok( $redis->is_connected, 'is_connected' );
    $redis->disconnect;
};

subtest 'client certificate' => sub {
    my $redis = Future::IO::Redis->new(
        %at,
        tls => {
            ca_file   => $srv->{ca_file},
            cert_file => $srv->{cert_file},
            key_file  => $srv->{key_file}
        }
    );
    is( outcome($redis)->get->ping->get, 'PONG', 'connected with a client certificate' );
    $redis->disconnect;
};

subtest 'rediss:// URI' => sub {
    my $redis = Future::IO::Redis->new(
        uri => "rediss://localhost:$srv->{port}/1",
        tls => { ca_file => $srv->{ca_file} },
    );
    is( outcome($redis)->get->ping->get, 'PONG', 'rediss with an explicit CA' );
    $redis->disconnect;
};

subtest 'wrong CA' => sub {
    my $redis = Future::IO::Redis->new( %at, tls => { ca_file => $srv->{wrong_ca_file} } );
    my $f     = outcome($redis);
    ok( $f->is_failed, 'connect failed' );
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Connection' );
    like( $f->failure->message, qr/TLS/, 'says TLS' );
    ok( !$redis->is_connected, 'not connected' );
};

subtest 'host name checked' => sub {
    my $redis = Future::IO::Redis->new( %at,
        tls => { ca_file => $srv->{ca_file}, server_name => 'not-this-host.example' } );
    my $f = outcome($redis);
    ok( $f->is_failed, 'a certificate for another name is refused' );
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Connection' );

    my $lax = Future::IO::Redis->new(
        %at,
        tls => {
            ca_file         => $srv->{ca_file},
            server_name     => 'not-this-host.example',
            verify_hostname => 0
        }
    );
    is( outcome($lax)->get->ping->get, 'PONG', 'verify_hostname => 0 accepts it' );
    $lax->disconnect;
};

subtest 'plain client on a TLS port' => sub {
    my $redis = Future::IO::Redis->new( %at, connect_timeout => 1 );
    my $f     = outcome($redis);
    ok( $f->is_failed, 'fails, does not hang' );
};

done_testing;
