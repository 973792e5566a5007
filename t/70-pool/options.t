# Every connection option reaches the pool's connections: TLS (the TLS
# port speaks nothing else, and a wrong CA is refused), a password and an
# ACL user (ACL WHOAMI), a unix socket, a URI, request_timeout and
# reconnect (on the clients themselves), pipeline_depth and auto_pipeline.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $tls  = FIORTest::server('tls');
my $auth = FIORTest::server('auth');
my $unix = FIORTest::server('unix');

sub one {
    my ( $pool, $code ) = @_;
    my @result = $pool->with($code)->get;
    $pool->shutdown;
    return wantarray ? @result : $result[0];
}

subtest 'TLS' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        host => $tls->{host},
        port => $tls->{port},
        tls  => { ca_file => $tls->{ca_file} },
        max  => 2,
    );
    is( one( $pool, sub { $_[0]->ping } ), 'PONG', 'PING over TLS' );

    my $wrong = Future::IO::Redis::Pool->new(
        host            => $tls->{host},
        port            => $tls->{port},
        tls             => { ca_file => $tls->{wrong_ca_file} },
        acquire_timeout => 10,
    );
    my $f = $wrong->acquire;
    $f->await;
    isa_ok( $f->failure, ['Future::IO::Redis::Error::Connection'], 'a wrong CA is refused' );
    $wrong->shutdown;
};

subtest 'password and ACL user' => sub {
    my %at   = ( host => $auth->{host}, port => $auth->{port} );
    my $pool = Future::IO::Redis::Pool->new(
        %at,
        username => $auth->{acl_user},
        password => $auth->{acl_password}
    );
    is( one( $pool, sub { $_[0]->command( 'ACL', 'WHOAMI' ) } ),
        $auth->{acl_user}, 'connections log in as the ACL user' );

    my $plain = Future::IO::Redis::Pool->new( %at, password => $auth->{password} );
    is( one( $plain, sub { $_[0]->command( 'ACL', 'WHOAMI' ) } ),
        'default', 'and with the default user\'s password' );

    my $none = Future::IO::Redis::Pool->new( %at, acquire_timeout => 10 );
    my $f    = $none->with( sub { $_[0]->ping } );
    $f->await;
    ok( $f->is_failed, 'without the password the server refuses' );
    $none->shutdown;
};

subtest 'unix socket and URI' => sub {
    my $pool = Future::IO::Redis::Pool->new( path => $unix->{path}, max => 2 );
    like( one( $pool, sub { $_[0]->command( 'CLIENT', 'INFO' ) } ),
        qr/\baddr=\/|\bladdr=\//, 'connected through the socket' );

    my $uri = Future::IO::Redis::Pool->new( uri => "redis+unix://$unix->{path}?db=3" );
    like( one( $uri, sub { $_[0]->command( 'CLIENT', 'INFO' ) } ),
        qr/\bdb=3\b/, 'a URI\'s socket and database' );
};

subtest 'client options' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        path            => $unix->{path},
        request_timeout => 1.5,
        reconnect       => 1,
        pipeline_depth  => 7,
        auto_pipeline   => 1,
    );
    my $seen = one(
        $pool,
        sub {
            my ($conn) = @_;
            return $conn->ping->then(
                sub {
                    Future->done(
                        {
                            map { $_ => $conn->{$_} }
                                qw(request_timeout reconnect pipeline_depth auto_pipeline)
                        }
                    );
                }
            );
        }
    );
    is(
        $seen,
        { request_timeout => 1.5, reconnect => 1, pipeline_depth => 7, auto_pipeline => 1 },
        'each connection has them'
    );
};

done_testing;
